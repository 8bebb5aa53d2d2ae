package sendgrid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

const (
	euKey              = "SG.eu.0123456789abcdef"
	euUser, euPassword = "eu-parse", "eu-s3cret"
	euAddress          = "support@eu.example"
	salesAddress       = "sales@shop.example"
	shopDomain         = "shop.example"
)

// threeEntryPoints is the connector of three SendGrid entry points: eu
// with its own API key and inbound credentials, the domain shop.example
// and the address sales@shop.example on the connector's; def is the
// default entry point.
func threeEntryPoints(t *testing.T, apiURL, sharedKey, def string) connector.Connector {
	t.Helper()
	c, err := sendgrid.New(sendgrid.Settings{APIKey: sharedKey, APIURL: apiURL, InboundUser: "parse", InboundPassword: "s3cret",
		EntryPoints: []sendgrid.EntryPoint{
			{ID: "eu", Address: euAddress, APIKey: euKey, InboundUser: euUser, InboundPassword: euPassword, Default: def == "eu"},
			{ID: "shop", Address: shopDomain, Default: def == "shop"},
			{ID: "sales", Address: salesAddress},
		}}, connector.Deps{UserAgent: "gateway/test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inboundEmail is an Inbound Parse request from bob with the envelope's
// recipients envelopeTo and the To header toHeader.
func inboundEmail(t *testing.T, path, user, pass string, envelopeTo []string, toHeader string) *webhook.Request {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	env, _ := json.Marshal(map[string]any{"from": "bob@example.com", "to": envelopeTo})
	for _, f := range [][2]string{{"from", "Bob <bob@example.com>"}, {"to", toHeader}, {"subject", "Hello"}, {"text", "Hi there"},
		{"envelope", string(env)}} {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	return &webhook.Request{Method: "POST", URL: "https://gw.example.com" + path, Body: b.Bytes(), ReceivedAt: time.Now(),
		Header: http.Header{"Content-Type": {w.FormDataContentType()}, "Authorization": {basic(user, pass)}}}
}

func routeAt(t *testing.T, c connector.Connector, path string) webhook.Route {
	t.Helper()
	for _, rt := range c.Routes {
		if rt.Path == path {
			return rt
		}
	}
	t.Fatalf("no route %s", path)
	return webhook.Route{}
}

// receivedAt is the entry point and the recipient of the one message of res.
func receivedAt(t *testing.T, res webhook.Result) (entry, to string) {
	t.Helper()
	if len(res.Events) != 1 {
		t.Fatalf("%d events (dead letter %q)", len(res.Events), res.DeadLetter)
	}
	var m normalize.Message
	if err := json.Unmarshal(res.Events[0].Event.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m.EntryPoint, m.To.Address
}

// An email finds its entry point by the address it was sent to (the
// envelope's recipients, then the To header's): an exact address wins over
// its domain wherever it is in the list, a domain takes any address there
// (not its subdomains), an entry point with its own route is passed over
// on the shared route, and the message's recipient is the address that
// matched. An address no entry point has is dead-lettered unless there is
// a default.
func TestInboundFindsTheEntryPoint(t *testing.T) {
	c := threeEntryPoints(t, "", "", "")
	shared := routeAt(t, c, sendgrid.InboundPath)
	for _, tc := range []struct {
		name       string
		envelopeTo []string
		toHeader   string
		entry, to  string
	}{
		{"exact address", []string{salesAddress}, salesAddress, "sales", salesAddress},
		{"address at the domain", []string{"Help@Shop.example"}, "help@shop.example", "shop", "help@shop.example"},
		{"exact address after a domain address", []string{"help@shop.example", salesAddress}, "", "sales", salesAddress},
		{"To header without an envelope", nil, "Shop <help@shop.example>, other@else.example", "shop", "help@shop.example"},
		{"envelope of an unknown address, To header of an entry point", []string{"x@else.example"}, salesAddress, "sales", salesAddress},
		{"the envelope before the To header", []string{"help@shop.example"}, salesAddress + ", help@shop.example", "shop", "help@shop.example"},
		{"a mailbox with its own route passed over", []string{"help@shop.example"}, euAddress + ", help@shop.example", "shop", "help@shop.example"},
		{"a mailbox with its own route among the envelope's", []string{euAddress, "help@shop.example"}, "", "shop", "help@shop.example"},
	} {
		res, err := shared.Handler.Handle(context.Background(), inboundEmail(t, sendgrid.InboundPath, "parse", "s3cret", tc.envelopeTo, tc.toHeader))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if entry, to := receivedAt(t, res); entry != tc.entry || to != tc.to {
			t.Errorf("%s: entry point %q to %q, want %q to %q", tc.name, entry, to, tc.entry, tc.to)
		}
	}
	for _, unknown := range []string{"x@else.example", "x@sub.shop.example"} {
		res, err := shared.Handler.Handle(context.Background(), inboundEmail(t, sendgrid.InboundPath, "parse", "s3cret", []string{unknown}, unknown))
		if err != nil || len(res.Events) != 0 || res.DeadLetter != webhook.DeadLetterUnknownEntryPoint {
			t.Errorf("mail to %s: %+v %v, want dead-lettered as unknown_entry_point", unknown, res, err)
		}
	}
	withDefault := routeAt(t, threeEntryPoints(t, "", "", "shop"), sendgrid.InboundPath)
	res, err := withDefault.Handler.Handle(context.Background(), inboundEmail(t, sendgrid.InboundPath, "parse", "s3cret", []string{"x@else.example"}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if entry, to := receivedAt(t, res); entry != "shop" || to != "x@else.example" {
		t.Errorf("unknown address with a default: entry point %q to %q", entry, to)
	}
}

// An entry point with inbound credentials of its own takes its mail on its
// own route, behind its basic auth only; its address on the shared route
// is refused; a replay of its route finds it again.
func TestInboundOwnRoute(t *testing.T) {
	c := threeEntryPoints(t, "", "", "")
	own := routeAt(t, c, sendgrid.InboundPath+"/eu")
	res, err := own.Handler.Handle(context.Background(), inboundEmail(t, sendgrid.InboundPath+"/eu", euUser, euPassword, []string{euAddress}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if entry, to := receivedAt(t, res); entry != "eu" || to != euAddress {
		t.Errorf("own route: entry point %q to %q", entry, to)
	}
	for _, cred := range [][2]string{{"parse", "s3cret"}, {euUser, "s3cret"}, {"", ""}} {
		if _, err := own.Handler.Handle(context.Background(), inboundEmail(t, sendgrid.InboundPath+"/eu", cred[0], cred[1], []string{euAddress}, "")); !errors.Is(err, webhook.ErrUnauthorized) {
			t.Errorf("own route with %q: %v, want unauthorized", cred[0], err)
		}
	}
	if a, ok := own.Handler.(webhook.HeaderAuthorizer); !ok || a.Authorize(webhook.Header(http.Header{"Authorization": {basic("parse", "s3cret")}})) == nil {
		t.Error("the own route does not refuse the shared credentials from the headers alone")
	}
	shared := routeAt(t, c, sendgrid.InboundPath)
	if _, err := shared.Handler.Handle(context.Background(), inboundEmail(t, sendgrid.InboundPath, "parse", "s3cret", []string{euAddress}, "")); !errors.Is(err, webhook.ErrUnauthorized) {
		t.Errorf("eu address on the shared route: %v, want unauthorized", err)
	}
	for _, rt := range c.Routes {
		if rt.Path == sendgrid.InboundPath+"/shop" || rt.Path == sendgrid.EventsPath+"/eu" {
			t.Errorf("route %s for an entry point without those credentials of its own", rt.Path)
		}
	}
	res, err = own.Replay.Handle(context.Background(), inboundEmail(t, sendgrid.InboundPath+"/eu", "", "", []string{euAddress}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if entry, _ := receivedAt(t, res); entry != "eu" {
		t.Errorf("replay of the own route: entry point %q", entry)
	}
}

// A reply leaves with the API key of the entry point it leaves from (its
// address, or its domain's); another address with SENDGRID_API_KEY, which
// SendGrid refuses for an address that is none of its sender identities.
func TestRepliesUseTheEntryPointsKey(t *testing.T) {
	fake := providertest.NewSendGrid(t)
	fake.AddKey(euKey, euAddress)
	fake.AddKey(providertest.SendGridAPIKey, shopDomain)
	s := threeEntryPoints(t, fake.URL, providertest.SendGridAPIKey, "").Senders[sendgrid.Provider]
	send := func(from string) error {
		_, err := s.Send(context.Background(), outbox.Send{MessageID: "m-" + from, Channel: normalize.ChannelEmail, Provider: sendgrid.Provider,
			From: normalize.Party{Kind: normalize.KindEmail, Address: from}, To: normalize.Party{Kind: normalize.KindEmail, Address: "bob@example.com"},
			Subject: "Re: Hello", Text: "reply"})
		return err
	}
	for _, from := range []string{euAddress, "help@shop.example", salesAddress} {
		if err := send(from); err != nil {
			t.Fatalf("send from %s: %v", from, err)
		}
	}
	want := []string{euKey, providertest.SendGridAPIKey, providertest.SendGridAPIKey}
	for i, m := range fake.Mails() {
		if m.APIKey != want[i] {
			t.Errorf("mail %d sent with %q, want %q", i, m.APIKey, want[i])
		}
	}
	var se *outbox.SendError
	if err := send("x@else.example"); !errors.As(err, &se) || !se.Permanent {
		t.Errorf("send from an address no key may send from: %v, want a permanent error", err)
	}
	euOnly := threeEntryPoints(t, fake.URL, "", "").Senders[sendgrid.Provider]
	if _, err := euOnly.Send(context.Background(), outbox.Send{Channel: normalize.ChannelEmail, Subject: "s", Text: "x",
		From: normalize.Party{Address: salesAddress}, To: normalize.Party{Address: "bob@example.com"}}); !errors.As(err, &se) || !se.Permanent {
		t.Errorf("send from an entry point without a key and no SENDGRID_API_KEY: %v, want a permanent error", err)
	}
}
