package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// Entry points of the tests: two WhatsApp numbers (the eu one with an app
// and a token of its own), a page of the shared app, a page with its own
// app, and the default Instagram account.
const (
	usNumber, euNumber, otherNumber = "106540352242922", "109876543210987", "100000000000001"
	shopPage, helpPage, igAccount   = "682498302938465", "733498302938999", "17841400000000001"
	euSecret, euVerify, euToken     = "eu-secret", "eu-verify", "EAAeuToken"
	helpSecret, helpToken           = "help-secret", "EAAhelpToken"
)

var testEntryPoints = []EntryPoint{
	{ID: "wa-us", Provider: ProviderWhatsApp, Address: usNumber},
	{ID: "wa-eu", Provider: ProviderWhatsApp, Address: euNumber, AccessToken: euToken, AppSecret: euSecret, VerifyToken: euVerify},
	{ID: "page-shop", Provider: ProviderMessenger, Address: shopPage, AccessToken: "EAAshopToken"},
	{ID: "page-help", Provider: ProviderMessenger, Address: helpPage, AccessToken: helpToken, AppSecret: helpSecret, VerifyToken: "help-verify"},
	{ID: "ig", Provider: ProviderInstagram, Address: igAccount, Default: true},
}

func TestEntryPointsFind(t *testing.T) {
	eps := NewEntryPoints(testEntryPoints)
	for _, c := range []struct {
		name, provider, address, fixed string
		id                             string
		dead, refused                  bool
	}{
		{name: "a number of the shared app", provider: ProviderWhatsApp, address: usNumber, id: "wa-us"},
		{name: "a number with its own app on the shared route", provider: ProviderWhatsApp, address: euNumber, refused: true},
		{name: "a number with its own app on its route", provider: ProviderWhatsApp, address: euNumber, fixed: "wa-eu", id: "wa-eu"},
		{name: "an unknown number on an own route", provider: ProviderWhatsApp, address: otherNumber, fixed: "wa-eu", id: "wa-eu"},
		{name: "an unknown number, no default", provider: ProviderWhatsApp, address: otherNumber, dead: true},
		{name: "a number as a page id", provider: ProviderMessenger, address: usNumber, dead: true},
		{name: "a page of the shared app", provider: ProviderMessenger, address: shopPage, id: "page-shop"},
		{name: "a page with its own app on the shared route", provider: ProviderMessenger, address: helpPage, refused: true},
		{name: "an unknown Instagram account: the default", provider: ProviderInstagram, address: "17841499999999999", id: "ig"},
	} {
		id, dead, err := eps.find(c.provider, c.address, c.fixed)
		switch {
		case c.refused:
			if !errors.Is(err, webhook.ErrSignature) || !strings.Contains(err.Error(), WhatsAppPath+"/wa-eu") && !strings.Contains(err.Error(), MessengerPath+"/page-help") {
				t.Errorf("%s: %q %q %v, want ErrSignature naming its route", c.name, id, dead, err)
			}
		case c.dead:
			if err != nil || id != "" || dead == "" {
				t.Errorf("%s: %q %q %v, want dead", c.name, id, dead, err)
			}
		case err != nil || dead != "" || id != c.id:
			t.Errorf("%s: %q %q %v, want %s", c.name, id, dead, err, c.id)
		}
	}
}

// waNote is a WhatsApp notification with one message to each number.
func waNote(numbers ...string) []byte {
	var changes []string
	for i, n := range numbers {
		changes = append(changes, fmt.Sprintf(`{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},"contacts":[{"profile":{"name":"C"},"wa_id":"1650555123%d"}],"messages":[{"from":"1650555123%d","id":"wamid.T%d","timestamp":"1700000000","type":"text","text":{"body":"hi"}}]}}`, n, i, i, i))
	}
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[` + strings.Join(changes, ",") + `]}]}`)
}

func fbNote(object, page string) []byte {
	return []byte(fmt.Sprintf(`{"object":%q,"entry":[{"id":%q,"time":1700000000000,"messaging":[{"sender":{"id":"5275811702471834"},"recipient":{"id":%q},"timestamp":1700000000000,"message":{"mid":"m_1","text":"hi"}}]}]}`,
		object, page, page))
}

// route is the connector's route at path.
func route(t *testing.T, c connector.Connector, path string) webhook.Route {
	t.Helper()
	for _, r := range c.Routes {
		if r.Path == path {
			return r
		}
	}
	t.Fatalf("no route %s", path)
	return webhook.Route{}
}

// messages are the messages of a result's events.
func messages(t *testing.T, res webhook.Result) []normalize.Message {
	t.Helper()
	var out []normalize.Message
	for _, ev := range res.Events {
		var m normalize.Message
		if err := json.Unmarshal(ev.Event.Data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestEntryPointRoutes(t *testing.T) {
	c, err := New(Settings{AppSecret: secret, VerifyToken: verifyToken, EntryPoints: testEntryPoints}, connector.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	eu, help := route(t, c, WhatsAppPath+"/wa-eu"), route(t, c, MessengerPath+"/page-help")
	for _, path := range []string{WhatsAppPath + "/wa-us", WhatsAppPath + "/page-help", MessengerPath + "/wa-eu", MessengerPath + "/page-shop"} {
		for _, r := range c.Routes {
			if r.Path == path {
				t.Errorf("route %s: only an entry point with an app of its own has one, on its provider's path", path)
			}
		}
	}
	shared, fb := route(t, c, WhatsAppPath), route(t, c, MessengerPath)
	for _, tc := range []struct {
		name    string
		h       webhook.Handler
		body    []byte
		secret  string
		want    []string // entry point of each message
		dead    bool
		refused error
	}{
		{name: "the us number on the shared route", h: shared.Handler, body: waNote(usNumber), secret: secret, want: []string{"wa-us"}},
		{name: "the eu number on its route", h: eu.Handler, body: waNote(euNumber), secret: euSecret, want: []string{"wa-eu"}},
		{name: "the eu route signed by the shared app", h: eu.Handler, body: waNote(euNumber), secret: secret, refused: webhook.ErrSignature},
		{name: "the eu number on the shared route", h: shared.Handler, body: waNote(usNumber, euNumber), secret: secret, refused: webhook.ErrSignature},
		{name: "an unknown number", h: shared.Handler, body: waNote(otherNumber), secret: secret, dead: true},
		{name: "an unknown number batched with a known one", h: shared.Handler, body: waNote(otherNumber, usNumber), secret: secret, want: []string{"wa-us"}, dead: true},
		{name: "the shop page", h: fb.Handler, body: fbNote("page", shopPage), secret: secret, want: []string{"page-shop"}},
		{name: "the help page on its route", h: help.Handler, body: fbNote("page", helpPage), secret: helpSecret, want: []string{"page-help"}},
		{name: "the help page on the shared route", h: fb.Handler, body: fbNote("page", helpPage), secret: secret, refused: webhook.ErrSignature},
		{name: "an Instagram account: the default", h: fb.Handler, body: fbNote("instagram", "17841499999999999"), secret: secret, want: []string{"ig"}},
	} {
		res, err := tc.h.Handle(context.Background(), postRequest(tc.body, Sign(tc.secret, tc.body)))
		if tc.refused != nil {
			if !errors.Is(err, tc.refused) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.refused)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, m := range messages(t, res) {
			got = append(got, m.EntryPoint)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") || (res.DeadLetter == webhook.DeadLetterUnknownEntryPoint) != tc.dead {
			t.Errorf("%s: entry points %v, dead letter %q, want %v (dead %v)", tc.name, got, res.DeadLetter, tc.want, tc.dead)
		}
	}
	if res, err := eu.Handler.Handle(context.Background(), &webhook.Request{Method: http.MethodGet,
		URL: "https://gw.example.com" + WhatsAppPath + "/wa-eu?hub.mode=subscribe&hub.verify_token=" + euVerify + "&hub.challenge=42"}); err != nil || string(res.Body) != "42" {
		t.Errorf("subscription check with the eu verify token: %q %v", res.Body, err)
	}
}

// A WhatsApp message found at its entry point leaves from its phone
// number id: that is its business address.
func TestWhatsAppEntryPointIsTheBusinessAddress(t *testing.T) {
	c, err := New(Settings{AppSecret: secret, VerifyToken: verifyToken, EntryPoints: testEntryPoints}, connector.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	body := waNote(usNumber)
	res, err := route(t, c, WhatsAppPath).Handler.Handle(context.Background(), postRequest(body, Sign(secret, body)))
	if err != nil {
		t.Fatal(err)
	}
	m := messages(t, res)[0]
	if m.To != (normalize.Party{Kind: normalize.KindWhatsApp, Address: usNumber}) || m.Extra["display_phone_number"] != "+15550783881" {
		t.Errorf("to %+v, extra %v", m.To, m.Extra)
	}
}

// Replay from raw.v1 finds the entry point the delivery found: by the own
// route it came in on, or by its business address.
func TestEntryPointReplay(t *testing.T) {
	c, err := New(Settings{EntryPoints: testEntryPoints}, connector.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{WhatsAppPath + "/wa-eu", "wa-eu"},
		{WhatsAppPath, "wa-us"},
	} {
		body := waNote(usNumber)
		if tc.want == "wa-eu" {
			body = waNote(otherNumber) // on its own route, whatever the number
		}
		r := postRequest(body, "")
		r.URL = "https://gw.example.com" + tc.path
		res, err := route(t, c, tc.path).Replay.Handle(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if ms := messages(t, res); len(ms) != 1 || ms[0].EntryPoint != tc.want {
			t.Errorf("replay of %s: %+v, want entry point %s", tc.path, ms, tc.want)
		}
	}
}

// Each reply leaves with the token of the entry point it leaves from; the
// fake Graph API refuses another's (401, code 190), never showing a token.
func TestEntryPointSenders(t *testing.T) {
	fake := providertest.NewMeta(t)
	fake.AddPhoneNumber(euNumber, euToken)
	fake.AddPage(helpPage, helpToken)
	c, err := New(Settings{GraphURL: fake.URL, GraphVersion: providertest.MetaGraphVersion, WhatsAppAccessToken: fake.WhatsAppToken,
		WhatsAppPhoneNumberID: usNumber, EntryPoints: testEntryPoints}, connector.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	customer := normalize.Party{Kind: normalize.KindPhone, Address: "+16505551234"}
	wa := c.Senders[ProviderWhatsApp]
	for _, from := range []string{usNumber, euNumber} {
		if _, err := wa.Send(context.Background(), outbox.Send{Channel: normalize.ChannelWhatsApp, Text: "hi", To: customer,
			From: normalize.Party{Kind: normalize.KindWhatsApp, Address: from}}); err != nil {
			t.Errorf("from %s: %v", from, err)
		}
	}
	psid := normalize.Party{Kind: normalize.KindMessenger, Address: "5275811702471834"}
	if _, err := c.Senders[ProviderMessenger].Send(context.Background(), outbox.Send{Channel: normalize.ChannelMessenger, Text: "hi", To: psid,
		From: normalize.Party{Kind: normalize.KindMessenger, Address: helpPage}}); err != nil {
		t.Errorf("from the help page: %v", err)
	}
	sent := fake.Messages()
	if len(sent) != 3 || sent[0].PhoneNumberID != usNumber || sent[1].PhoneNumberID != euNumber || sent[2].Page != helpPage {
		t.Errorf("sent %+v", sent)
	}
	_, err = c.Senders[ProviderMessenger].Send(context.Background(), outbox.Send{Channel: normalize.ChannelMessenger, Text: "hi", To: psid,
		From: normalize.Party{Kind: normalize.KindMessenger, Address: shopPage}})
	var se *outbox.SendError
	if !errors.As(err, &se) || se.ProviderCode != "190" || strings.Contains(err.Error(), "EAA") {
		t.Errorf("the shop page's token, which the fake does not know: %v, want 190 without the token", err)
	}
	if _, ok := c.Senders[ProviderWhatsApp].(outbox.Splitter); !ok {
		t.Error("the WhatsApp sender of several numbers does not split replies")
	}
}

// A WhatsApp file is fetched with the token of the number its message came
// in at; the connector's token is refused for another number's media.
func TestEntryPointMediaFetch(t *testing.T) {
	fake := providertest.NewMeta(t)
	fake.AddPhoneNumber(euNumber, euToken)
	fake.AddMedia(euNumber, "1481237285937423", "image/jpeg", []byte("a photo"))
	c, err := New(Settings{GraphURL: fake.URL, GraphVersion: providertest.MetaGraphVersion, WhatsAppAccessToken: fake.WhatsAppToken,
		MediaAllowedHosts: []string{strings.TrimPrefix(fake.URL, "http://")}, EntryPoints: testEntryPoints}, connector.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := c.Fetchers[ProviderWhatsApp].(media.EntryPointFetcher)
	if !ok {
		t.Fatalf("the WhatsApp fetcher %T does not fetch by entry point", c.Fetchers[ProviderWhatsApp])
	}
	body, ct, err := f.FetchAt(context.Background(), "wa-eu", "1481237285937423")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "a photo" || ct != "image/jpeg" {
		t.Errorf("fetched %q %s", b, ct)
	}
	if _, _, err := f.FetchAt(context.Background(), "wa-us", "1481237285937423"); !errors.Is(err, media.ErrPermanent) ||
		strings.Contains(err.Error(), euToken) || strings.Contains(err.Error(), fake.WhatsAppToken) {
		t.Errorf("the eu number's media with the us token: %v, want a permanent refusal without a token", err)
	}
}
