package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// The logs hold no secret: the gateway runs with every secret variable set
// (the test fails when config reads one it does not set), logging at debug
// level, and takes signed and forged webhooks of every connector, operator
// API calls with good and bad tokens, a chat socket, a reply out through a
// provider and media links; then no secret value, no bearer token and no
// basic credential appears anywhere in its log. Every webhook and API line
// names its request, and every answer carries X-Request-Id: the caller's
// when it is safe, a new one when not.
func TestLogsHoldNoSecret(t *testing.T) {
	dialect := sqlstore.SQLite
	if os.Getenv("GATEWAY_TEST_DATABASE_URL") != "" {
		dialect = sqlstore.Postgres
	}
	fakeMeta, fakeSG := providertest.NewMeta(t), providertest.NewSendGrid(t)
	const (
		twilioToken = "twiliotokenQz81xwLm"
		appSecret   = "meta-app-secret-Kp27dNv"
		verifyToken = "meta-verify-Wd55hJq"
		sgPassword  = "sg-inbound-pw-Tn64rBe"
		agentToken  = "api-agent-Hb39cMs"
		adminToken  = "api-admin-Lr02fXk"
		badToken    = "api-forged-Yp48gTa"
	)
	env := map[string]string{
		"GATEWAY_HTTP_ADDR": "127.0.0.1:0", "GATEWAY_EMBEDDED_KAFKA_ADDR": "127.0.0.1:0", "GATEWAY_DATA_DIR": t.TempDir(),
		"GATEWAY_PUBLIC_URL": testPublic, "KAFKA_PARTITIONS": "4", "GATEWAY_LOG_LEVEL": "debug",
		"TWILIO_ACCOUNT_SID": "ACtest123", "TWILIO_AUTH_TOKEN": twilioToken,
		"META_APP_SECRET": appSecret, "META_VERIFY_TOKEN": verifyToken, "META_GRAPH_URL": fakeMeta.URL,
		"WHATSAPP_ACCESS_TOKEN": providertest.MetaWhatsAppToken, "WHATSAPP_PHONE_NUMBER_ID": providertest.MetaPhoneNumberID,
		"MESSENGER_PAGE_ACCESS_TOKEN": providertest.MetaPageToken,
		"SENDGRID_API_KEY":            providertest.SendGridAPIKey, "SENDGRID_API_URL": fakeSG.URL,
		"SENDGRID_INBOUND_USER": "parse", "SENDGRID_INBOUND_PASSWORD": sgPassword, "SENDGRID_EVENT_PUBLIC_KEY": sendgridPublicKey,
		"GATEWAY_API_TOKENS":   "agent:ann:" + agentToken + ",admin:ops:" + adminToken,
		"GATEWAY_CHAT_SECRET":  "chat-secret-Vm73sPq0aZ9xLw4eRt6yUi8oPk2jHg5f",
		"GATEWAY_MEDIA_SECRET": "media-secret-Nc19kLb7qWe3rTy6uIo0pAs4dFg8hJk",
	}
	// The values no log may hold: every secret variable's, and the parts of
	// the ones that hold several.
	secrets := map[string]string{"agent token": agentToken, "admin token": adminToken, "forged token": badToken}
	if dialect == sqlstore.Postgres {
		u, err := url.Parse(sqltest.URL(t, dialect))
		if err != nil {
			t.Fatal(err)
		}
		// The test server trusts local connections: the password is never
		// checked, only carried.
		u.User = url.UserPassword(u.User.Username(), "pg-password-Ge52vHn")
		env["DATABASE_URL"] = u.String()
		secrets["database password"] = "pg-password-Ge52vHn"
	}
	asked := map[string]bool{}
	cfg, err := config.Load(func(k string) string { asked[k] = true; return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for k := range asked {
		if !config.IsSecret(k) {
			continue
		}
		if env[k] == "" && !(k == "DATABASE_URL" && dialect == sqlstore.SQLite) {
			t.Fatalf("the secret %s is not set: give it a value this test looks for", k)
		}
		if env[k] != "" {
			secrets[k] = env[k]
		}
	}
	if len(secrets) < 13 {
		t.Fatalf("%d secret values to look for: config reads fewer secrets than expected", len(secrets))
	}
	var logs lockedBuffer
	g, err := start(context.Background(), cfg, &logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })

	// send makes a request and checks its X-Request-Id: a safe id given is
	// answered, an unsafe one replaced.
	ids := map[string]bool{}
	send := func(method, path, id string, body []byte, header map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+g.Addr()+path, strings.NewReader(string(body)))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got := resp.Header.Get("X-Request-Id")
		if safe := regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`).MatchString(id); safe && got != id || !safe && (got == "" || got == id) {
			t.Errorf("%s %s: X-Request-Id %q, given %q", method, path, got, id)
		}
		ids[got] = true
		return resp.StatusCode, string(b)
	}
	expect := func(what string, status, want int, body string) {
		t.Helper()
		if status != want {
			t.Fatalf("%s: %d %s, want %d", what, status, body, want)
		}
	}

	// Twilio, signed and forged.
	form := smsForm("SM0000000000000000000000000000logs", "+14155550188", "my card is 4111 1111 1111 1111")
	twilioPost := func(path string, form url.Values, sig, id string) (int, string) {
		return send(http.MethodPost, path, id, []byte(form.Encode()), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})
	}
	s, b := twilioPost(twilio.MessagingPath, form, twilio.Sign(twilioToken, testPublic+twilio.MessagingPath, form), "e2e-twilio-1")
	expect("twilio signed", s, http.StatusOK, b)
	s, b = twilioPost(twilio.MessagingPath, form, "forged", "not safe: spaces and \"quotes\"")
	expect("twilio forged", s, http.StatusForbidden, b)
	status := url.Values{"MessageSid": {"SMunknown"}, "MessageStatus": {"delivered"}, "AccountSid": {"ACtest123"}}
	s, b = twilioPost(twilio.StatusPath, status, twilio.Sign(twilioToken, testPublic+twilio.StatusPath, status), strings.Repeat("x", 65))
	expect("twilio status", s, http.StatusOK, b)

	// WhatsApp: the subscription check with the right and a wrong token,
	// a signed message and a forged one.
	s, b = send(http.MethodGet, "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token="+verifyToken+"&hub.challenge=42", "", nil, nil)
	expect("whatsapp subscribe", s, http.StatusOK, b)
	s, b = send(http.MethodGet, "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42", "", nil, nil)
	expect("whatsapp subscribe, wrong token", s, http.StatusForbidden, b)
	wa := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.LOGS1","timestamp":"%d","type":"text","text":{"body":"hello"}}]},"field":"messages"}]}]}`,
		providertest.MetaPhoneNumberID, time.Now().Unix()))
	jsonCT := map[string]string{"Content-Type": "application/json"}
	s, b = send(http.MethodPost, "/webhooks/whatsapp", "e2e-wa-1", wa, map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": meta.Sign(appSecret, wa)})
	expect("whatsapp signed", s, http.StatusOK, b)
	s, b = send(http.MethodPost, "/webhooks/whatsapp", "", wa, map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": meta.Sign("guess", wa)})
	expect("whatsapp forged", s, http.StatusForbidden, b)

	// Messenger, signed and forged.
	ms := []byte(fmt.Sprintf(`{"object":"page","entry":[{"id":"682498302938465","time":%d,"messaging":[{"sender":{"id":"5275811702471830"},"recipient":{"id":"682498302938465"},"timestamp":%d,"message":{"mid":"mid.logs-1","text":"hi"}}]}]}`,
		time.Now().UnixMilli(), time.Now().UnixMilli()))
	s, b = send(http.MethodPost, "/webhooks/messenger", "", ms, map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": meta.Sign(appSecret, ms)})
	expect("messenger signed", s, http.StatusOK, b)
	s, b = send(http.MethodPost, "/webhooks/messenger", "", ms, jsonCT)
	expect("messenger unsigned", s, http.StatusForbidden, b)

	// SendGrid: Inbound Parse with the right and a wrong password, the
	// Event Webhook signed and forged.
	mail, err := os.ReadFile("../../connectors/sendgrid/testdata/inbound_attachment.txt")
	if err != nil {
		t.Fatal(err)
	}
	basic := func(pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte("parse:"+pw)) }
	ct := "multipart/form-data; boundary=xYzZY"
	s, b = send(http.MethodPost, "/webhooks/sendgrid/inbound", "e2e-sg-1", mail, map[string]string{"Content-Type": ct, "Authorization": basic(sgPassword)})
	expect("sendgrid inbound", s, http.StatusOK, b)
	s, b = send(http.MethodPost, "/webhooks/sendgrid/inbound", "", mail, map[string]string{"Content-Type": ct, "Authorization": basic("guess")})
	expect("sendgrid inbound, wrong password", s, http.StatusUnauthorized, b)
	now := time.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	ev := []byte(fmt.Sprintf(`[{"email":"bob@example.com","timestamp":%d,"event":"delivered","sg_message_id":"unknown.filterdrecv-1"}]`, now))
	s, b = send(http.MethodPost, "/webhooks/sendgrid/events", "", ev, map[string]string{"Content-Type": "application/json",
		sendgrid.TimestampHeader: ts, sendgrid.SignatureHeader: signSendGrid(t, ts, ev)})
	expect("sendgrid events", s, http.StatusOK, b)
	s, b = send(http.MethodPost, "/webhooks/sendgrid/events", "", ev, map[string]string{"Content-Type": "application/json",
		sendgrid.TimestampHeader: ts, sendgrid.SignatureHeader: signSendGrid(t, ts+"1", ev)})
	expect("sendgrid events forged", s, http.StatusForbidden, b)

	// The web chat: a refused upgrade and a visitor's message.
	s, b = send(http.MethodGet, "/chat/ws", "", nil, nil)
	expect("chat without the handshake", s, http.StatusUpgradeRequired, b)
	ws := chatDial(t, g)
	chatFrame(t, ws, map[string]any{"type": "hello"})
	if ack := chatFrame(t, ws, map[string]any{"type": "message", "client_id": "c1", "text": "anyone?"}); ack["type"] != "ack" {
		t.Fatalf("chat ack %v", ack)
	}
	ws.Close()

	// The operator API with good and bad tokens, and a reply out through
	// the WhatsApp Cloud API.
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") >= 5 })
	var waConv string
	for _, e := range ofType(evs, "message.received") {
		if e.Data["message"].(map[string]any)["channel"] == "whatsapp" {
			waConv = e.Data["conversation_id"].(string)
		}
	}
	bearer := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	}
	s, b = send(http.MethodGet, "/v1/conversations", "e2e-api-1", nil, bearer(agentToken))
	expect("api, agent token", s, http.StatusOK, b)
	s, b = send(http.MethodGet, "/v1/conversations", "", nil, bearer(badToken))
	expect("api, forged token", s, http.StatusUnauthorized, b)
	s, b = send(http.MethodGet, "/v1/conversations", "", nil, map[string]string{"Authorization": "Basic " + adminToken})
	expect("api, not a bearer token", s, http.StatusUnauthorized, b)
	s, b = send(http.MethodPost, "/v1/conversations/"+waConv+"/messages", "", []byte(`{"text":"On its way."}`), bearer(agentToken))
	expect("api reply", s, http.StatusAccepted, b)
	s, b = send(http.MethodGet, "/v1/no-such-route", "", nil, bearer(adminToken))
	expect("api, unknown route", s, http.StatusNotFound, b)
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 1 })

	// Media: a link with a forged signature.
	s, b = send(http.MethodGet, "/media/abc?expires=9999999999&sig=00", "", nil, nil)
	if s < 400 || s >= 500 {
		t.Fatalf("forged media link: %d %s", s, b)
	}

	g.Close()
	out := logs.String()
	for name, v := range secrets {
		if strings.Contains(out, v) {
			t.Errorf("the log holds %s", name)
		}
	}
	for _, v := range []string{"Bearer", "Basic ", base64.StdEncoding.EncodeToString([]byte("parse:"))} {
		if strings.Contains(out, v) {
			t.Errorf("the log holds %q", v)
		}
	}
	lines, access := 0, map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l map[string]any
		if err := jsonUnmarshal(line, &l); err != nil {
			t.Errorf("not a JSON log line: %s", line)
			continue
		}
		lines++
		msg, _ := l["msg"].(string)
		if !strings.HasPrefix(msg, "webhook") && !strings.HasPrefix(msg, "api:") {
			continue
		}
		if msg == "api: token with an unknown role ignored" || msg == "api: token with an invalid holder name ignored" {
			continue // at start, not a request's
		}
		id, _ := l["request_id"].(string)
		if !ids[id] {
			t.Errorf("line with request_id %q, not one of the answers': %s", id, line)
		}
		if msg == "webhook" {
			access[fmt.Sprint(l["connector"], " ", l["outcome"], " ", l["status"])] = true
			if l["duration_ms"] == nil {
				t.Errorf("access line without duration_ms: %s", line)
			}
		}
	}
	for _, want := range []string{"twilio_messaging accepted 200", "twilio_messaging signature 403", "twilio_status accepted 200",
		"meta_whatsapp accepted 200", "meta_whatsapp signature 403", "meta_messenger accepted 200", "meta_messenger signature 403",
		"sendgrid_inbound accepted 200", "sendgrid_inbound unauthorized 401", "sendgrid_events accepted 200", "sendgrid_events signature 403"} {
		if !access[want] {
			t.Errorf("no access line %q among %v", want, access)
		}
	}
	if lines < 20 || t.Failed() {
		t.Logf("%d log lines:\n%s", lines, out)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
