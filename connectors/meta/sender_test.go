package meta_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
	"github.com/opengateway/gateway/outbox/outboxtest"
)

const userAgent = "gateway/1.2.3"

func newSender(t *testing.T, fake *providertest.Meta) *meta.Sender {
	t.Helper()
	s, err := meta.NewSender(meta.SenderConfig{
		GraphURL: fake.URL, Version: providertest.MetaGraphVersion,
		WhatsAppToken: fake.WhatsAppToken, PhoneNumberID: providertest.MetaPhoneNumberID,
		PageToken: fake.PageToken, UserAgent: userAgent,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	waCustomer = normalize.Party{Kind: normalize.KindPhone, Address: "+16505551234"}
	waBusiness = normalize.Party{Kind: normalize.KindPhone, Address: "+15550001111"} // display number, not an id
	psid       = normalize.Party{Kind: normalize.KindMessenger, Address: "5275811702471834"}
	igsid      = normalize.Party{Kind: normalize.KindInstagram, Address: "17841400000000001"}
)

// The contract every outbox sender keeps, on both Graph endpoints.
func TestSenderContract(t *testing.T) {
	outboxtest.TestSender(t, outboxtest.Suite{
		New: func(t *testing.T) outboxtest.Target {
			fake := providertest.NewMeta(t)
			return outboxtest.Target{Sender: newSender(t, fake), Fake: fake.Fake, LastID: func() string {
				msgs := fake.Messages()
				if len(msgs) == 0 {
					return ""
				}
				return msgs[len(msgs)-1].ID
			}}
		},
		Sends: []outbox.Send{
			{MessageID: "m1", Channel: "whatsapp", From: waBusiness, To: waCustomer, Text: "x"},
			{MessageID: "m2", Channel: "messenger", To: psid, Text: "x"},
		},
		OtherChannel: "sms",
		Permanent: outboxtest.Failure{Status: 400,
			Body:   providertest.MetaErrorBody(131026, 0, "(#131026) Message undeliverable", "OAuthException"),
			Expect: outboxtest.Expect{Status: 400, Code: "131026", Message: "Message undeliverable"}},
		RateLimited: outboxtest.Expect{Status: 429, Code: "130429"},
		ServerError: outboxtest.Expect{Status: 500, Code: "2"},
		BadConfigs: map[string]func() error{
			"no token":          newErr(meta.SenderConfig{}),
			"relative URL":      newErr(meta.SenderConfig{GraphURL: "graph.facebook.com", PageToken: "x"}),
			"version with path": newErr(meta.SenderConfig{Version: "v23.0/x", PageToken: "x"}),
		},
	})
}

func newErr(cfg meta.SenderConfig) func() error {
	return func() error { _, err := meta.NewSender(cfg); return err }
}

func TestSendWireRequest(t *testing.T) {
	waPath := "/v23.0/" + providertest.MetaPhoneNumberID + "/messages"
	tests := map[string]struct {
		send  outbox.Send
		path  string
		token string
		want  string
	}{
		"whatsapp text": {
			send: outbox.Send{MessageID: "m1", Channel: "whatsapp", From: waBusiness, To: waCustomer, Text: "Your order <A-17> & more"},
			path: waPath, token: providertest.MetaWhatsAppToken,
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text",
				"text":{"body":"Your order <A-17> & more","preview_url":false}}`,
		},
		"whatsapp image with caption": {
			send: outbox.Send{MessageID: "m2", Channel: "whatsapp", From: waBusiness, To: waCustomer, Text: "here it is",
				Attachments: []normalize.Attachment{{URL: "https://media.example.com/p.jpg", ContentType: "image/jpeg"}}},
			path: waPath, token: providertest.MetaWhatsAppToken,
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"image",
				"image":{"link":"https://media.example.com/p.jpg","caption":"here it is"}}`,
		},
		"whatsapp document with filename": {
			send: outbox.Send{MessageID: "m3", Channel: "whatsapp", From: waBusiness, To: waCustomer,
				Attachments: []normalize.Attachment{{URL: "https://media.example.com/i.pdf", ContentType: "application/pdf", Filename: "invoice.pdf"}}},
			path: waPath, token: providertest.MetaWhatsAppToken,
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"document",
				"document":{"link":"https://media.example.com/i.pdf","filename":"invoice.pdf"}}`,
		},
		"whatsapp audio": {
			send: outbox.Send{MessageID: "m4", Channel: "whatsapp", From: waBusiness, To: waCustomer,
				Attachments: []normalize.Attachment{{URL: "https://media.example.com/v.ogg", ContentType: "audio/ogg"}}},
			path: waPath, token: providertest.MetaWhatsAppToken,
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"audio",
				"audio":{"link":"https://media.example.com/v.ogg"}}`,
		},
		"whatsapp template": {
			send: outbox.Send{MessageID: "m5", Channel: "whatsapp", From: waBusiness, To: waCustomer, Text: "ignored",
				Template: &outbox.Template{Name: "revive_issue", Language: "en_US", Components: []map[string]any{
					{"type": "body", "parameters": []any{map[string]any{"type": "text", "text": "Chef"}}},
				}}},
			path: waPath, token: providertest.MetaWhatsAppToken,
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"template",
				"template":{"name":"revive_issue","language":{"policy":"deterministic","code":"en_US"},
				"components":[{"type":"body","parameters":[{"type":"text","text":"Chef"}]}]}}`,
		},
		"whatsapp from another phone number id": {
			send: outbox.Send{MessageID: "m6", Channel: "whatsapp", From: normalize.Party{Kind: "phone", Address: "222333444555666"},
				To: waCustomer, Text: "hi"},
			path: "/v23.0/222333444555666/messages", token: providertest.MetaWhatsAppToken,
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text",
				"text":{"body":"hi","preview_url":false}}`,
		},
		"messenger text is a response by default": {
			send: outbox.Send{MessageID: "m7", Channel: "messenger", To: psid, Text: "hello, world"},
			path: "/v23.0/me/messages", token: providertest.MetaPageToken,
			want: `{"recipient":{"id":"5275811702471834"},"messaging_type":"RESPONSE","message":{"text":"hello, world"}}`,
		},
		"messenger tag": {
			send: outbox.Send{MessageID: "m8", Channel: "messenger", To: psid, Text: "Following up", Tag: "HUMAN_AGENT"},
			path: "/v23.0/me/messages", token: providertest.MetaPageToken,
			want: `{"recipient":{"id":"5275811702471834"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"Following up"}}`,
		},
		"messenger update": {
			send: outbox.Send{MessageID: "m9", Channel: "messenger", To: psid, Text: "News", MessagingType: "UPDATE"},
			path: "/v23.0/me/messages", token: providertest.MetaPageToken,
			want: `{"recipient":{"id":"5275811702471834"},"messaging_type":"UPDATE","message":{"text":"News"}}`,
		},
		"instagram image": {
			send: outbox.Send{MessageID: "m10", Channel: "instagram", To: igsid,
				Attachments: []normalize.Attachment{{URL: "https://media.example.com/p.png", ContentType: "image/png"}}},
			path: "/v23.0/me/messages", token: providertest.MetaPageToken,
			want: `{"recipient":{"id":"17841400000000001"},"messaging_type":"RESPONSE",
				"message":{"attachment":{"type":"image","payload":{"url":"https://media.example.com/p.png","is_reusable":true}}}}`,
		},
		"messenger file": {
			send: outbox.Send{MessageID: "m11", Channel: "messenger", To: psid,
				Attachments: []normalize.Attachment{{URL: "https://media.example.com/i.pdf", ContentType: "application/pdf"}}},
			path: "/v23.0/me/messages", token: providertest.MetaPageToken,
			want: `{"recipient":{"id":"5275811702471834"},"messaging_type":"RESPONSE",
				"message":{"attachment":{"type":"file","payload":{"url":"https://media.example.com/i.pdf","is_reusable":true}}}}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewMeta(t)
			fake.PhoneNumberIDs = append(fake.PhoneNumberIDs, "222333444555666")
			res, err := newSender(t, fake).Send(t.Context(), tc.send)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := fake.Messages()
			if len(msgs) != 1 || res.ProviderMessageID == "" || res.ProviderMessageID != msgs[0].ID {
				t.Fatalf("ProviderMessageID = %q, fake accepted %+v", res.ProviderMessageID, msgs)
			}
			if tc.send.Channel == "whatsapp" && !strings.HasPrefix(res.ProviderMessageID, "wamid.") {
				t.Errorf("WhatsApp id %q is not a wamid", res.ProviderMessageID)
			}
			req := fake.Last()
			if req.Method != http.MethodPost || req.Path != tc.path || len(req.Query) != 0 {
				t.Errorf("request = %s %s?%s, want POST %s (token never in the URL)", req.Method, req.Path, req.Query.Encode(), tc.path)
			}
			for h, want := range map[string]string{
				"Authorization": "Bearer " + tc.token, "Content-Type": "application/json", "User-Agent": userAgent,
			} {
				if got := req.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			// WhatsApp sends name the gateway message, echoed in statuses[].
			if tc.send.Channel == "whatsapp" {
				if got := req.JSON["biz_opaque_callback_data"]; got != tc.send.MessageID {
					t.Errorf("biz_opaque_callback_data = %v, want %s", got, tc.send.MessageID)
				}
				delete(req.JSON, "biz_opaque_callback_data")
			}
			if want := decode(t, tc.want); !reflect.DeepEqual(req.JSON, want) {
				t.Errorf("body =\n%s\nwant\n%s", req.Body, tc.want)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	wa := outbox.Send{MessageID: "m", Channel: "whatsapp", From: waBusiness, To: waCustomer, Text: "hi"}
	fb := outbox.Send{MessageID: "m", Channel: "messenger", To: psid, Text: "hi"}
	fail := func(status int, body string, h map[string]string) func(*providertest.Meta) {
		return func(f *providertest.Meta) { f.FailNext(1, status, body, h) }
	}
	tests := map[string]struct {
		script     func(*providertest.Meta)
		send       outbox.Send
		permanent  bool
		status     int
		code       string
		retryAfter time.Duration
		inMessage  string
	}{
		"throughput limit answered as 400 is transient": {
			script: fail(400, providertest.MetaErrorBody(130429, 0, "(#130429) Rate limit hit", "OAuthException"), nil),
			send:   wa, status: 400, code: "130429",
		},
		"pair rate limit is transient": {
			script: fail(400, providertest.MetaErrorBody(131056, 0, "(#131056) (Business Account, Consumer Account) pair rate limit hit", "OAuthException"), nil),
			send:   wa, status: 400, code: "131056",
		},
		"page rate limit with usage header is transient": {
			script: fail(400, providertest.MetaErrorBody(32, 0, "Page request limit reached", "OAuthException"),
				map[string]string{"X-Business-Use-Case-Usage": `{"106378625516323":[{"type":"messenger","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":3}]}`}),
			send: fb, status: 400, code: "32", retryAfter: 3 * time.Minute,
		},
		"502 with an HTML body is transient": {
			script: fail(502, "<html>bad gateway</html>", map[string]string{"Content-Type": "text/html"}),
			send:   fb, status: 502,
		},
		"is_transient is honoured": {
			script: fail(400, `{"error":{"message":"Temporary","type":"OAuthException","code":1200,"is_transient":true,"fbtrace_id":"x"}}`, nil),
			send:   wa, status: 400, code: "1200",
		},
		"re-engagement window closed is permanent": {
			script: fail(400, `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,
				"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
				"fbtrace_id":"AbCdEf123"}}`, nil),
			send: wa, permanent: true, status: 400, code: "131047", inMessage: "more than 24 hours have passed",
		},
		"undeliverable is permanent": {
			script: fail(400, providertest.MetaErrorBody(131026, 0, "(#131026) Message undeliverable", "OAuthException"), nil),
			send:   wa, permanent: true, status: 400, code: "131026",
		},
		"messenger outside the window is permanent": {
			script: fail(400, providertest.MetaErrorBody(10, 2018278, "(#10) This message is sent outside of allowed window.", "OAuthException"), nil),
			send:   fb, permanent: true, status: 400, code: "10", inMessage: "subcode 2018278",
		},
		"blocked user is permanent": {
			script: fail(400, providertest.MetaErrorBody(551, 1545041, "This person isn't available right now.", "OAuthException"), nil),
			send:   fb, permanent: true, status: 400, code: "551",
		},
		"expired token is permanent": {
			script: func(f *providertest.Meta) { f.WhatsAppToken = "EAArotated" },
			send:   wa, permanent: true, status: 401, code: "190",
		},
		"unknown tag is permanent": {
			send:      outbox.Send{MessageID: "m", Channel: "messenger", To: psid, Text: "hi", Tag: "SHIPPING_UPDATE"},
			permanent: true, status: 400, code: "100",
		},
		"template without components rejected by the API is permanent": {
			send: outbox.Send{MessageID: "m", Channel: "whatsapp", From: waBusiness, To: waCustomer,
				Template: &outbox.Template{Name: "t", Language: "en"}},
			script:    fail(400, providertest.MetaErrorBody(132000, 0, "(#132000) Number of parameters does not match the expected number of params", "OAuthException"), nil),
			permanent: true, status: 400, code: "132000",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewMeta(t)
			s := newSender(t, fake)
			if tc.script != nil {
				tc.script(fake)
			}
			_, err := s.Send(t.Context(), tc.send)
			var se *outbox.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *outbox.SendError", err)
			}
			if errors.Is(err, outbox.ErrPermanent) != tc.permanent {
				t.Errorf("permanent = %v, want %v (%v)", se.Permanent, tc.permanent, err)
			}
			if se.HTTPStatus != tc.status || se.ProviderCode != tc.code || se.RetryAfter != tc.retryAfter {
				t.Errorf("got status %d code %q retry-after %v, want %d %q %v (%v)",
					se.HTTPStatus, se.ProviderCode, se.RetryAfter, tc.status, tc.code, tc.retryAfter, err)
			}
			if !strings.Contains(se.Message, tc.inMessage) {
				t.Errorf("message %q does not contain %q", se.Message, tc.inMessage)
			}
			if strings.Contains(err.Error(), providertest.MetaWhatsAppToken) || strings.Contains(err.Error(), providertest.MetaPageToken) {
				t.Errorf("error leaks a token: %v", err)
			}
		})
	}
}

func TestSendRejectedBeforeSending(t *testing.T) {
	img := normalize.Attachment{URL: "https://media.example.com/p.jpg", ContentType: "image/jpeg"}
	tests := map[string]outbox.Send{
		"whatsapp two attachments":     {Channel: "whatsapp", To: waCustomer, Attachments: []normalize.Attachment{img, img}},
		"whatsapp audio with caption":  {Channel: "whatsapp", To: waCustomer, Text: "x", Attachments: []normalize.Attachment{{URL: "https://m/a.ogg", ContentType: "audio/ogg"}}},
		"whatsapp template no lang":    {Channel: "whatsapp", To: waCustomer, Template: &outbox.Template{Name: "t"}},
		"whatsapp nothing":             {Channel: "whatsapp", To: waCustomer},
		"whatsapp no recipient":        {Channel: "whatsapp", Text: "x"},
		"messenger text and image":     {Channel: "messenger", To: psid, Text: "x", Attachments: []normalize.Attachment{img}},
		"messenger template":           {Channel: "messenger", To: psid, Template: &outbox.Template{Name: "t"}},
		"messenger MESSAGE_TAG no tag": {Channel: "messenger", To: psid, Text: "x", MessagingType: "MESSAGE_TAG"},
		"messenger odd messaging type": {Channel: "messenger", To: psid, Text: "x", MessagingType: "PROMO"},
	}
	for name, send := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewMeta(t)
			_, err := newSender(t, fake).Send(t.Context(), send)
			if !errors.Is(err, outbox.ErrPermanent) {
				t.Fatalf("err = %v, want permanent", err)
			}
			if fake.Received() != 0 {
				t.Errorf("%d requests reached Meta", fake.Received())
			}
		})
	}
}

func TestChannelWithoutToken(t *testing.T) {
	fake := providertest.NewMeta(t)
	s, err := meta.NewSender(meta.SenderConfig{GraphURL: fake.URL, WhatsAppToken: fake.WhatsAppToken, PhoneNumberID: providertest.MetaPhoneNumberID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(t.Context(), outbox.Send{Channel: "messenger", To: psid, Text: "x"}); !errors.Is(err, outbox.ErrPermanent) {
		t.Fatalf("messenger without a page token: err = %v, want permanent", err)
	}
	// The default version is v23.0.
	if _, err := s.Send(t.Context(), outbox.Send{Channel: "whatsapp", To: waCustomer, Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if p := fake.Last().Path; p != "/v23.0/"+providertest.MetaPhoneNumberID+"/messages" {
		t.Errorf("path = %s", p)
	}
}

// The fake enforces the WhatsApp document's User-Agent pattern: a version
// that is not x.y.z is refused, so a misconfigured UserAgent shows up in tests.
func TestWhatsAppUserAgentPattern(t *testing.T) {
	fake := providertest.NewMeta(t)
	s, err := meta.NewSender(meta.SenderConfig{GraphURL: fake.URL, WhatsAppToken: fake.WhatsAppToken,
		PhoneNumberID: providertest.MetaPhoneNumberID, UserAgent: "gateway/dev"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(t.Context(), outbox.Send{Channel: "whatsapp", To: waCustomer, Text: "x"})
	var se *outbox.SendError
	if !errors.As(err, &se) || se.ProviderCode != "100" || !strings.Contains(se.Message, "User-Agent") {
		t.Fatalf("err = %v, want the fake to refuse the User-Agent", err)
	}
}

// BenchmarkSend measures the sender against a fake answering after a
// realistic Graph API latency, with parallel senders as the dispatcher runs them.
func BenchmarkSend(b *testing.B) {
	fake := providertest.NewMeta(b)
	fake.SetLatency(2 * time.Millisecond)
	s, err := meta.NewSender(meta.SenderConfig{GraphURL: fake.URL, WhatsAppToken: fake.WhatsAppToken,
		PhoneNumberID: providertest.MetaPhoneNumberID, UserAgent: userAgent})
	if err != nil {
		b.Fatal(err)
	}
	send := outbox.Send{Channel: "whatsapp", To: waCustomer, Text: "benchmark"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Send(context.Background(), send); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
