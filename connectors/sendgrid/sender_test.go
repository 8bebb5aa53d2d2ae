package sendgrid_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
	"github.com/opengateway/gateway/outbox/outboxtest"
)

const userAgent = "gateway/1.2.3"

func newSender(t *testing.T, fake *providertest.SendGrid) *sendgrid.Sender {
	t.Helper()
	s, err := sendgrid.NewSender(sendgrid.SenderConfig{APIKey: fake.APIKey, BaseURL: fake.URL, UserAgent: userAgent})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The contract every outbox sender keeps.
func TestSenderContract(t *testing.T) {
	outboxtest.TestSender(t, outboxtest.Suite{
		New: func(t *testing.T) outboxtest.Target {
			fake := providertest.NewSendGrid(t)
			return outboxtest.Target{Sender: newSender(t, fake), Fake: fake.Fake, LastID: func() string {
				mails := fake.Mails()
				if len(mails) == 0 {
					return ""
				}
				return mails[len(mails)-1].MessageID
			}}
		},
		Sends:        []outbox.Send{{MessageID: "m", Channel: "email", From: support, To: customer, Subject: "s", Text: "t"}},
		OtherChannel: "sms",
		Permanent: outboxtest.Failure{Status: 400,
			Body:   `{"errors":[{"field":"personalizations.0.to.0.email","message":"Does not contain a valid address."}]}`,
			Expect: outboxtest.Expect{Status: 400, Message: "sendgrid: Does not contain a valid address. (field personalizations.0.to.0.email)"}},
		RateLimited: outboxtest.Expect{Status: 429, Message: "sendgrid: too many requests"},
		ServerError: outboxtest.Expect{Status: 500, Message: "sendgrid: internal server error"},
		BadConfigs: map[string]func() error{
			"no key":            newErr(sendgrid.SenderConfig{BaseURL: "https://api.sendgrid.com"}),
			"relative base URL": newErr(sendgrid.SenderConfig{APIKey: "SG.x", BaseURL: "api.sendgrid.com"}),
		},
	})
}

func newErr(cfg sendgrid.SenderConfig) func() error {
	return func() error { _, err := sendgrid.NewSender(cfg); return err }
}

var (
	support  = normalize.Party{Kind: normalize.KindEmail, Address: "support@shop.example.com", Name: "Shop Support"}
	customer = normalize.Party{Kind: normalize.KindEmail, Address: "ann@example.net", Name: "Ann Lee"}
)

// decode turns a JSON literal into the shape the fake records.
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSendWireRequest(t *testing.T) {
	tests := map[string]struct {
		send outbox.Send
		want string // the JSON body SendGrid must receive
	}{
		"plain reply": {
			send: outbox.Send{MessageID: "msg-1", Channel: "email", From: support, To: customer, Subject: "Your order", Text: "It ships today."},
			want: `{"from":{"name":"Shop Support","email":"support@shop.example.com"},"subject":"Your order",
				"personalizations":[{"to":[{"name":"Ann Lee","email":"ann@example.net"}],"custom_args":{"gateway_message_id":"msg-1"}}],
				"content":[{"type":"text/plain","value":"It ships today."}]}`,
		},
		"text and html, threaded": {
			send: outbox.Send{MessageID: "msg-2", Channel: "email", From: support, To: customer, Subject: "Re: Where is my order?",
				Text: "It ships today.", HTML: "<p>It ships today.</p>",
				Thread: &normalize.Thread{MessageID: "CAF=abc@mail.example.net", InReplyTo: "<first@shop.example.com>",
					References: []string{"<first@shop.example.com>"}}},
			want: `{"from":{"name":"Shop Support","email":"support@shop.example.com"},"subject":"Re: Where is my order?",
				"personalizations":[{"to":[{"name":"Ann Lee","email":"ann@example.net"}],"custom_args":{"gateway_message_id":"msg-2"}}],
				"content":[{"type":"text/plain","value":"It ships today."},{"type":"text/html","value":"<p>It ships today.</p>"}],
				"headers":{"In-Reply-To":"<CAF=abc@mail.example.net>","References":"<first@shop.example.com> <CAF=abc@mail.example.net>"}}`,
		},
		"thread references given as one header value": {
			send: outbox.Send{MessageID: "msg-3", Channel: "email", From: support, To: customer, Subject: "Re: x", HTML: "<b>hi</b>",
				Thread: &normalize.Thread{MessageID: "<c@x>", References: []string{"<a@x> <b@x>", "<c@x>"}}},
			want: `{"from":{"name":"Shop Support","email":"support@shop.example.com"},"subject":"Re: x",
				"personalizations":[{"to":[{"name":"Ann Lee","email":"ann@example.net"}],"custom_args":{"gateway_message_id":"msg-3"}}],
				"content":[{"type":"text/html","value":"<b>hi</b>"}],
				"headers":{"In-Reply-To":"<c@x>","References":"<a@x> <b@x> <c@x>"}}`,
		},
		"dynamic template": {
			send: outbox.Send{MessageID: "msg-4", Channel: "email", From: support, To: normalize.Party{Kind: "email", Address: "bo@example.org"},
				Template: &outbox.Template{Name: "d-123abc456def789hij0klm123nop456q", Variables: map[string]string{"order": "A-17"}}},
			want: `{"from":{"name":"Shop Support","email":"support@shop.example.com"},"template_id":"d-123abc456def789hij0klm123nop456q",
				"personalizations":[{"to":[{"email":"bo@example.org"}],"custom_args":{"gateway_message_id":"msg-4"},
				"dynamic_template_data":{"order":"A-17"}}]}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewSendGrid(t)
			res, err := newSender(t, fake).Send(t.Context(), tc.send)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			mails := fake.Mails()
			if len(mails) != 1 || res.ProviderMessageID == "" || res.ProviderMessageID != mails[0].MessageID {
				t.Fatalf("ProviderMessageID = %q, fake accepted %+v", res.ProviderMessageID, mails)
			}
			req := fake.Last()
			if req.Method != http.MethodPost || req.Path != "/v3/mail/send" {
				t.Errorf("request = %s %s", req.Method, req.Path)
			}
			for h, want := range map[string]string{
				"Authorization": "Bearer " + providertest.SendGridAPIKey, "Content-Type": "application/json", "User-Agent": userAgent,
			} {
				if got := req.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if want := decode(t, tc.want); !reflect.DeepEqual(req.JSON, want) {
				t.Errorf("body =\n%s\nwant\n%s", req.Body, tc.want)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	send := outbox.Send{MessageID: "m", Channel: "email", From: support, To: customer, Subject: "s", Text: "t"}
	reset := time.Now().Add(40 * time.Second).Unix()
	tests := map[string]struct {
		script     func(*providertest.SendGrid)
		send       outbox.Send
		permanent  bool
		status     int
		message    string
		retryAfter time.Duration
		near       bool // retryAfter is approximate (computed from a clock)
	}{
		"429 with X-RateLimit-Reset is transient": {
			script: func(f *providertest.SendGrid) {
				f.FailNext(1, 429, "", map[string]string{"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset, 10)})
			},
			send: send, status: 429, message: "sendgrid: too many requests", retryAfter: 40 * time.Second, near: true,
		},
		"502 without a body is transient": {
			script: func(f *providertest.SendGrid) { f.FailNext(1, 502, " ", nil) },
			send:   send, status: 502, message: "sendgrid: Bad Gateway",
		},
		"invalid recipient is permanent": {
			send:      outbox.Send{MessageID: "m", Channel: "email", From: support, To: normalize.Party{Address: "not-an-address"}, Subject: "s", Text: "t"},
			permanent: true, status: 400, message: "sendgrid: Does not contain a valid address. (field personalizations.0.to.0.email)",
		},
		"revoked key is permanent": {
			script: func(f *providertest.SendGrid) { f.APIKey = "SG.other" },
			send:   send, permanent: true, status: 401,
			message: "sendgrid: The provided authorization grant is invalid, expired, or revoked",
		},
		"403 is permanent": {
			script: func(f *providertest.SendGrid) { f.FailNext(1, 403, "", nil) },
			send:   send, permanent: true, status: 403, message: "sendgrid: forbidden",
		},
		"413 is permanent": {
			script: func(f *providertest.SendGrid) {
				f.FailNext(1, 413, `{"errors":[{"message":"content too large","field":"null"}]}`, nil)
			},
			send: send, permanent: true, status: 413, message: "sendgrid: content too large",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewSendGrid(t)
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
			if se.HTTPStatus != tc.status || se.Message != tc.message {
				t.Errorf("got %d %q, want %d %q", se.HTTPStatus, se.Message, tc.status, tc.message)
			}
			if d := se.RetryAfter - tc.retryAfter; d != 0 && (!tc.near || d < -2*time.Second || d > 2*time.Second) {
				t.Errorf("RetryAfter = %v, want %v", se.RetryAfter, tc.retryAfter)
			}
		})
	}
}

func TestSendRejectedBeforeSending(t *testing.T) {
	ok := outbox.Send{MessageID: "m", Channel: "email", From: support, To: customer, Subject: "s", Text: "t"}
	tests := map[string]func(*outbox.Send){
		"no sender":       func(s *outbox.Send) { s.From = normalize.Party{} },
		"no recipient":    func(s *outbox.Send) { s.To = normalize.Party{} },
		"no subject":      func(s *outbox.Send) { s.Subject = "" },
		"nothing to send": func(s *outbox.Send) { s.Text = "" },
		"attachment by URL": func(s *outbox.Send) {
			s.Attachments = []normalize.Attachment{{URL: "https://media.example.com/invoice.pdf"}}
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewSendGrid(t)
			send := ok
			mutate(&send)
			_, err := newSender(t, fake).Send(t.Context(), send)
			if !errors.Is(err, outbox.ErrPermanent) {
				t.Fatalf("err = %v, want permanent", err)
			}
			if fake.Received() != 0 {
				t.Errorf("%d requests reached SendGrid", fake.Received())
			}
		})
	}
}
