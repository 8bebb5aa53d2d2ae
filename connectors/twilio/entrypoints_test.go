package twilio_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

const (
	public                   = "https://gw.example.com"
	usNumber, ukNumber       = "+15558675310", "+447700900123"
	ukAccount, ukToken       = "ACfedcba9876543210fedcba9876543210", "ukauthtoken0123"
	unknownNumber, customer1 = "+15550001111", "+14155550101"
)

// twoAccounts is the connector of two Twilio numbers: us on the connector's
// account, uk on an account of its own; def is the default entry point.
func twoAccounts(t *testing.T, fake *providertest.Twilio, def string) connector.Connector {
	t.Helper()
	c, err := twilio.New(twilio.Settings{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, APIURL: fake.URL, PublicURL: public,
		EntryPoints: []twilio.EntryPoint{{ID: "us", Address: usNumber, Default: def == "us"},
			{ID: "uk", Address: ukNumber, AccountSID: ukAccount, AuthToken: ukToken, Default: def == "uk"}}},
		connector.Deps{UserAgent: "gateway/test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// post calls the route at path as Twilio would, signed with token, with
// an SMS from customer1 to to (a WhatsApp message when to is whatsapp:).
func post(t *testing.T, c connector.Connector, path, token, to string) (webhook.Result, error) {
	t.Helper()
	from := customer1
	if strings.HasPrefix(to, "whatsapp:") {
		from = "whatsapp:" + customer1
	}
	form := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "From": {from}, "To": {to}, "Body": {"hi"}}
	r := &webhook.Request{Method: "POST", URL: public + path, Body: []byte(form.Encode()), ReceivedAt: time.Now(),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"X-Twilio-Signature": {twilio.Sign(token, public+path, form)}}}
	for _, rt := range c.Routes {
		if rt.Path == path {
			return rt.Handler.Handle(context.Background(), r)
		}
	}
	t.Fatalf("no route %s", path)
	return webhook.Result{}, nil
}

func entryPointOf(t *testing.T, res webhook.Result) string {
	t.Helper()
	if len(res.Events) != 1 {
		t.Fatalf("%d events (dead letter %q)", len(res.Events), res.DeadLetter)
	}
	var m normalize.Message
	if err := json.Unmarshal(res.Events[0].Event.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m.EntryPoint
}

// A message finds its entry point by its To number on the shared route,
// by the route on an entry point's own route (signed with that account's
// token, never the other's); a number no entry point has is dead-lettered
// (unknown_entry_point) unless there is a default, and the number of an
// entry point with an account of its own is refused on the shared route.
func TestMessagingFindsTheEntryPoint(t *testing.T) {
	fake := providertest.NewTwilio(t)
	c := twoAccounts(t, fake, "")
	res, err := post(t, c, twilio.MessagingPath, fake.AuthToken, usNumber)
	if err != nil || entryPointOf(t, res) != "us" {
		t.Fatalf("us number on the shared route: %v", err)
	}
	res, err = post(t, c, twilio.MessagingPath, fake.AuthToken, "whatsapp:"+usNumber)
	if err != nil || entryPointOf(t, res) != "us" {
		t.Fatalf("WhatsApp through Twilio to the us number: %v", err)
	}
	res, err = post(t, c, twilio.MessagingPath+"/uk", ukToken, ukNumber)
	if err != nil || entryPointOf(t, res) != "uk" {
		t.Fatalf("uk number on its route: %v", err)
	}
	if _, err = post(t, c, twilio.MessagingPath+"/uk", fake.AuthToken, ukNumber); !errors.Is(err, webhook.ErrSignature) {
		t.Errorf("uk route signed with the other account's token: %v, want a signature error", err)
	}
	if _, err = post(t, c, twilio.MessagingPath, fake.AuthToken, ukNumber); !errors.Is(err, webhook.ErrSignature) {
		t.Errorf("uk number on the shared route: %v, want a signature error", err)
	}
	if sw := c.Switches[len(c.Switches)-1]; sw.Connector != "twilio_uk" || sw.Disabled != "" {
		t.Errorf("start log switch of the uk account %+v", sw)
	}
	for _, rt := range c.Routes {
		if rt.Path == twilio.MessagingPath+"/us" || rt.Path == twilio.StatusPath+"/us" {
			t.Errorf("route %s for an entry point on the connector's account", rt.Path)
		}
	}
	res, err = post(t, c, twilio.MessagingPath, fake.AuthToken, unknownNumber)
	if err != nil || len(res.Events) != 0 || res.DeadLetter != webhook.DeadLetterUnknownEntryPoint || string(res.Body) != string(twilio.EmptyTwiML) {
		t.Errorf("unknown number: %+v %v, want dead-lettered as unknown_entry_point and answered", res, err)
	}
	withDefault := twoAccounts(t, fake, "us")
	res, err = post(t, withDefault, twilio.MessagingPath, fake.AuthToken, unknownNumber)
	if err != nil || entryPointOf(t, res) != "us" {
		t.Errorf("unknown number with a default: %v", err)
	}

	// Replayed from raw.v1, a message finds the same entry point.
	form := url.Values{"MessageSid": {"SM1"}, "From": {customer1}, "To": {ukNumber}, "Body": {"hi"}}
	for _, rt := range c.Routes {
		if rt.Path == twilio.MessagingPath+"/uk" {
			res, err := rt.Replay.Handle(context.Background(), &webhook.Request{Method: "POST", URL: public + rt.Path,
				Header: http.Header{}, Body: []byte(form.Encode()), ReceivedAt: time.Now()})
			if err != nil || entryPointOf(t, res) != "uk" {
				t.Errorf("replay of the uk route: %v", err)
			}
		}
	}
}

// A reply leaves through the account of the entry point whose number it
// leaves from, with that entry point's status callback; another number
// through the connector's account.
func TestRepliesUseTheEntryPointsAccount(t *testing.T) {
	fake := providertest.NewTwilio(t)
	fake.AddAccount(ukAccount, ukToken)
	s := twoAccounts(t, fake, "").Senders[twilio.Provider]
	phone := func(a string) normalize.Party { return normalize.Party{Kind: normalize.KindPhone, Address: a} }
	for i, from := range []string{ukNumber, usNumber} {
		_, err := s.Send(context.Background(), outbox.Send{MessageID: "m" + from, Channel: normalize.ChannelSMS, Provider: twilio.Provider,
			From: phone(from), To: phone(customer1), Text: "reply"})
		if err != nil {
			t.Fatalf("send from %s: %v", from, err)
		}
		want := [][2]string{{ukAccount, public + twilio.StatusPath + "/uk"}, {fake.AccountSID, public + twilio.StatusPath}}[i]
		m := fake.Messages()[i]
		if m.AccountSID != want[0] || m.From != from {
			t.Errorf("send from %s went under %s from %s, want %s", from, m.AccountSID, m.From, want[0])
		}
		if u, _ := url.Parse(m.StatusCallback); u == nil || u.Scheme+"://"+u.Host+u.Path != want[1] {
			t.Errorf("send from %s: status callback %q, want %s", from, m.StatusCallback, want[1])
		}
	}
}

// A media URL is fetched with the account its path names when an entry
// point has that account of its own, else with the connector's.
func TestMediaFetchedWithTheAccountOfItsURL(t *testing.T) {
	tokens := map[string]string{providertest.TwilioAccountSID: providertest.TwilioAuthToken, ukAccount: ukToken}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || tokens[u] != p || !strings.HasPrefix(r.URL.Path, "/2010-04-01/Accounts/"+u+"/") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write([]byte("JPEG of " + u))
	}))
	defer srv.Close()
	c, err := twilio.New(twilio.Settings{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken,
		APIURL: srv.URL, MediaAllowedHosts: []string{strings.TrimPrefix(srv.URL, "http://")},
		EntryPoints: []twilio.EntryPoint{{ID: "uk", Address: ukNumber, AccountSID: ukAccount, AuthToken: ukToken}}},
		connector.Deps{UserAgent: "gateway/test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{ukAccount, providertest.TwilioAccountSID} {
		body, _, err := c.Fetchers[twilio.Provider].Fetch(context.Background(), srv.URL+"/2010-04-01/Accounts/"+sid+"/Messages/MM1/Media/ME1")
		if err != nil {
			t.Fatalf("media of %s: %v", sid, err)
		}
		b, _ := io.ReadAll(body)
		body.Close()
		if string(b) != "JPEG of "+sid {
			t.Errorf("media of %s: %q", sid, b)
		}
	}
}
