package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore"
)

// An MMS's picture is copied into the gateway's media store before the
// message reaches events.v1, where it is referenced by a signed gateway URL;
// a picture that cannot be fetched is marked failed with the reason (the URL
// named without its query). Media come from the hosts of
// GATEWAY_MEDIA_ALLOWED_HOSTS (here the local fake of Twilio), and erasure
// deletes the file even when GATEWAY_PUBLIC_URL has a path.
func TestMMSMediaIsCopied(t *testing.T) {
	twilioMedia := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ACtest123" || p != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/2010-04-01/Accounts/ACtest123/Messages/MM1/Media/ME1" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write([]byte("\xff\xd8\xff\xe0 a cat"))
	}))
	defer twilioMedia.Close()
	public := testPublic + "/gateway"
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_PUBLIC_URL": public, "TWILIO_API_URL": twilioMedia.URL,
		"GATEWAY_MEDIA_ALLOWED_HOSTS": strings.TrimPrefix(twilioMedia.URL, "http://")})
	form := smsForm("MM00000000000000000000000000000001", "+14155550101", "look")
	form.Set("NumMedia", "2")
	form.Set("MediaUrl0", twilioMedia.URL+"/2010-04-01/Accounts/ACtest123/Messages/MM1/Media/ME1")
	form.Set("MediaContentType0", "image/jpeg")
	form.Set("MediaUrl1", twilioMedia.URL+"/2010-04-01/Accounts/ACtest123/Messages/MM1/Media/GONE?token=SECRETQUERY")
	form.Set("MediaContentType1", "image/png")
	sig := twilio.Sign(testToken, public+"/webhooks/twilio/messaging", form)
	if s, _ := postTwilio(t, g, "/webhooks/twilio/messaging", form, &sig); s != http.StatusOK {
		t.Fatalf("post: %d", s)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	msg := ofType(evs, "message.received")[0].Data["message"].(map[string]any)
	if msg["channel"] != "mms" {
		t.Fatalf("channel %v", msg["channel"])
	}
	atts := msg["attachments"].([]any)
	ok, failed := atts[0].(map[string]any), atts[1].(map[string]any)
	link, _ := ok["url"].(string)
	if ok["status"] != "stored" || !strings.HasPrefix(link, public+"/media/") || ok["size"].(float64) != 10 {
		t.Fatalf("copied attachment %v", ok)
	}
	if e, _ := failed["error"].(string); failed["status"] != "failed" || !strings.Contains(e, "404") || strings.Contains(e, "SECRETQUERY") {
		t.Fatalf("missing attachment %v", failed)
	}
	// The link works on the gateway (the test reaches it directly, as the
	// proxy in front of the public URL would, without its path).
	path := strings.TrimPrefix(link, public)
	resp, err := http.Get("http://" + g.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "\xff\xd8\xff\xe0 a cat" {
		t.Fatalf("GET media: %d %q", resp.StatusCode, b)
	}
	resp, _ = http.Get("http://" + g.Addr() + strings.Replace(path, "sig=", "sig=00", 1))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered link: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// Erasing the customer deletes the file too.
	if err := g.service.Customers().EraseCustomer(context.Background(), ofType(evs, "message.received")[0].Data["customer_id"].(string), "admin:test"); err != nil {
		t.Fatal(err)
	}
	resp, _ = http.Get("http://" + g.Addr() + path)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after erasure the file answers %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// A MediaUrl pointing inside the gateway's network is refused with the
// default media hosts: no request, and no Twilio credentials, reach it, and
// the attachment is marked failed.
func TestLoopbackMediaURLRefused(t *testing.T) {
	var hits atomic.Int32
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write([]byte("internal"))
	}))
	defer local.Close()
	g := startGateway(t, sqlstore.SQLite, nil)
	form := smsForm("MM00000000000000000000000000000002", "+14155550101", "look")
	form.Set("NumMedia", "1")
	form.Set("MediaUrl0", local.URL+"/admin")
	form.Set("MediaContentType0", "image/jpeg")
	if s, _ := postTwilio(t, g, "/webhooks/twilio/messaging", form, nil); s != http.StatusOK {
		t.Fatalf("post: %d", s)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	att := ofType(evs, "message.received")[0].Data["message"].(map[string]any)["attachments"].([]any)[0].(map[string]any)
	if e, _ := att["error"].(string); att["status"] != "failed" || !strings.Contains(e, "not allowed") {
		t.Errorf("attachment %v: want failed, host not allowed", att)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests reached the local server", n)
	}
}
