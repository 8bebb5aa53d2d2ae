package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore"
)

// The gateway is SIGKILLed while its dispatcher waits for Twilio's answer
// to a reply Twilio has taken (the database has not recorded the send).
// Restarted, it learns of the message from Twilio's status callback (which
// names the gateway's message) and, once the dead dispatcher's lease has
// run out, records the reply as sent instead of sending it again. The
// lease is a minute, so this runs only with -fault.long (the store-level
// case is outbox's TestCrashAfterSendIsNotSentTwice).
func TestFaultSIGKILLBetweenSendAndRecord(t *testing.T) {
	if !faultLongRun() {
		t.Skip("waits out the dispatcher's one-minute lease: run with -fault.long or GATEWAY_TEST_FAULT_LONG=1")
	}
	fake := providertest.NewTwilio(t)
	c := startChild(t, sqlstore.SQLite, map[string]string{
		"TWILIO_ACCOUNT_SID": providertest.TwilioAccountSID, "TWILIO_AUTH_TOKEN": providertest.TwilioAuthToken,
		"TWILIO_API_URL": fake.URL, "GATEWAY_API_TOKENS": "agent:agent-token", "GATEWAY_LOG_LEVEL": "info",
	})
	sign := func(path string, form url.Values) *string {
		s := twilio.Sign(providertest.TwilioAuthToken, testPublic+path, form)
		return &s
	}
	in := smsForm("SM00000000000000000000000000000001", "+14155550101", "Where is my parcel?")
	if s, b := postTwilio(t, c.view, "/webhooks/twilio/messaging", in, sign("/webhooks/twilio/messaging", in)); s != http.StatusOK {
		t.Fatalf("inbound: %d %s", s, b)
	}
	evs := consume(t, c.view, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)

	fake.AcceptThenHang(1)
	req, _ := http.NewRequest(http.MethodPost, "http://"+c.view.Addr()+"/v1/conversations/"+conv+"/messages", strings.NewReader(`{"text":"It ships today"}`))
	req.Header.Set("Authorization", "Bearer agent-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST messages: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); fake.Accepted() < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Twilio never took the reply")
		}
	}
	c.kill() // Twilio has the message; the gateway never heard its answer
	c.start()

	got := fake.Messages()
	if len(got) != 1 || !strings.Contains(got[0].StatusCallback, "gateway_message_id=") {
		t.Fatalf("Twilio holds %+v", got)
	}
	callback := strings.TrimPrefix(got[0].StatusCallback, testPublic)
	st := url.Values{"MessageSid": {got[0].SID}, "MessageStatus": {"delivered"}, "To": {"+14155550101"}, "AccountSid": {providertest.TwilioAccountSID}}
	if s, b := postTwilio(t, c.view, callback, st, sign(callback, st)); s != http.StatusOK {
		t.Fatalf("status callback: %d %s", s, b)
	}
	for deadline := time.Now().Add(90 * time.Second); !strings.Contains(c.out.String(), "resend avoided"); time.Sleep(200 * time.Millisecond) {
		if n := fake.Accepted(); n > 1 {
			t.Fatalf("the restarted gateway sent the reply again: Twilio took it %d times", n)
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted dispatcher never took the dead one's reply up again")
		}
	}
	time.Sleep(time.Second) // room for a wrongful send
	if n := fake.Accepted(); n != 1 {
		t.Fatalf("Twilio took the reply %d times", n)
	}
	evs = consume(t, c.view, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") >= 1 })
	ids := map[string]bool{}
	for _, e := range ofType(evs, "message.sent") {
		ids[e.Event.ID] = true
	}
	if len(ids) > 1 {
		t.Errorf("%d message.sent events for one reply", len(ids))
	}
}
