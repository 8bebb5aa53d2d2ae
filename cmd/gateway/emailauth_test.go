package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// getAs reads an operator API route with a bearer token.
func getAs(t *testing.T, g *Gateway, token, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.Addr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// Email sender spoofing, end to end with GATEWAY_EMAIL_UNVERIFIED=separate:
// a known customer writes (SPF pass for their domain), then a forged mail
// with their From address arrives (SPF fail, no DKIM). The forged mail
// creates a customer of its own, stays out of the known customer's
// conversation, and its message.received says sender_verified false.
func TestForgedEmailIsSeparated(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{
				"SENDGRID_INBOUND_USER": "parse", "SENDGRID_INBOUND_PASSWORD": "s3cret",
				"GATEWAY_EMAIL_UNVERIFIED": "separate", "GATEWAY_API_TOKENS": "agent:agent-token",
			})
			hdr := map[string]string{"Content-Type": "multipart/form-data; boundary=xYzZY",
				"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("parse:s3cret"))}
			for _, f := range []string{"inbound_reply_quoted.txt", "inbound_spoofed.txt"} {
				body, err := os.ReadFile("../../connectors/sendgrid/testdata/" + f)
				if err != nil {
					t.Fatal(err)
				}
				if s, b := post(t, g, "/webhooks/sendgrid/inbound", body, hdr); s != http.StatusOK {
					t.Fatalf("%s: %d %s", f, s, b)
				}
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			if n := count(evs, "customer.created"); n != 2 {
				t.Errorf("%d customers created, want 2 (the real one and the forger's): %v", n, typesOf(evs))
			}
			// Two customers, two partitions of events.v1: told apart by
			// their text, not their order.
			var real, forged map[string]any
			for _, r := range ofType(evs, "message.received") {
				if text, _ := r.Data["message"].(map[string]any)["text"].(string); strings.Contains(text, "Elsewhere Road") {
					forged = r.Data
				} else {
					real = r.Data
				}
			}
			if real == nil || forged == nil {
				t.Fatalf("message.received events: %v", ofType(evs, "message.received"))
			}
			realMsg, forgedMsg := real["message"].(map[string]any), forged["message"].(map[string]any)
			if realMsg["sender_verified"] != true || forgedMsg["sender_verified"] != false {
				t.Fatalf("sender_verified: real %v, forged %v", realMsg["sender_verified"], forgedMsg["sender_verified"])
			}
			if forgedMsg["from"].(map[string]any)["address"] != "ann.lee@example.com" {
				t.Fatalf("forged mail from %v", forgedMsg["from"])
			}
			if forged["customer_id"] == real["customer_id"] || forged["conversation_id"] == real["conversation_id"] {
				t.Fatalf("the forged mail joined the known customer: %v / %v", forged["customer_id"], forged["conversation_id"])
			}

			// What an agent sees: the known customer's conversation holds
			// only the real mail, and the address finds the known customer.
			var msgs struct {
				Data []struct {
					Text string `json:"text"`
				} `json:"data"`
			}
			getAs(t, g, "agent-token", "/v1/conversations/"+real["conversation_id"].(string)+"/messages", &msgs)
			if len(msgs.Data) != 1 || !strings.HasPrefix(msgs.Data[0].Text, "Thanks, that works for me.") {
				t.Fatalf("known customer's conversation: %+v", msgs.Data)
			}
			var cust struct {
				ID string `json:"id"`
			}
			getAs(t, g, "agent-token", "/v1/customers?address="+url.QueryEscape("ann.lee@example.com"), &cust)
			if cust.ID != real["customer_id"] {
				t.Fatalf("the address finds customer %s, want %v", cust.ID, real["customer_id"])
			}
		})
	}
}
