package twilio_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
	"github.com/opengateway/gateway/outbox/outboxtest"
)

const userAgent = "gateway/1.2.3"

func newSender(t *testing.T, fake *providertest.Twilio) *twilio.Sender {
	t.Helper()
	s, err := twilio.NewSender(twilio.SenderConfig{
		AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, BaseURL: fake.URL,
		UserAgent: userAgent, StatusCallback: "https://gw.example.com/webhooks/twilio/status",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The contract every outbox sender keeps.
func TestSenderContract(t *testing.T) {
	outboxtest.TestSender(t, outboxtest.Suite{
		New: func(t *testing.T) outboxtest.Target {
			fake := providertest.NewTwilio(t)
			return outboxtest.Target{Sender: newSender(t, fake), Fake: fake.Fake, LastID: func() string {
				msgs := fake.Messages()
				if len(msgs) == 0 {
					return ""
				}
				return msgs[len(msgs)-1].SID
			}}
		},
		Sends: []outbox.Send{
			{MessageID: "m1", Channel: "sms", From: phone("+15017122661"), To: phone("+15558675310"), Text: "hi"},
			{MessageID: "m2", Channel: "whatsapp", From: phone("+14155238886"), To: phone("+15558675310"), Text: "hi"},
		},
		OtherChannel: "email",
		Permanent: outboxtest.Failure{Status: 400,
			Body:   `{"code":21211,"message":"Invalid 'To' Phone Number","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`,
			Expect: outboxtest.Expect{Status: 400, Code: "21211", Message: "Invalid 'To' Phone Number"}},
		RateLimited: outboxtest.Expect{Status: 429, Code: "20429"},
		ServerError: outboxtest.Expect{Status: 500, Code: "20500"},
		BadConfigs: map[string]func() error{
			"empty":                  newErr(twilio.SenderConfig{}),
			"non-alphanumeric token": newErr(twilio.SenderConfig{AccountSID: providertest.TwilioAccountSID, AuthToken: "tok_en"}),
			"relative base URL":      newErr(twilio.SenderConfig{AccountSID: providertest.TwilioAccountSID, AuthToken: "token", BaseURL: "api.twilio.com"}),
		},
	})
}

func newErr(cfg twilio.SenderConfig) func() error {
	return func() error { _, err := twilio.NewSender(cfg); return err }
}

func phone(a string) normalize.Party { return normalize.Party{Kind: normalize.KindPhone, Address: a} }

func TestSendWireRequest(t *testing.T) {
	tests := map[string]struct {
		send     outbox.Send
		wantForm url.Values
	}{
		"sms text": {
			send: outbox.Send{MessageID: "msg-1", Channel: "sms", From: phone("+15017122661"), To: phone("+15558675310"), Text: "Hello there"},
			wantForm: url.Values{"To": {"+15558675310"}, "From": {"+15017122661"}, "Body": {"Hello there"},
				"StatusCallback": {"https://gw.example.com/webhooks/twilio/status"}},
		},
		"mms with media": {
			send: outbox.Send{MessageID: "msg-2", Channel: "mms", From: phone("+15017122661"), To: phone("+15558675310"), Text: "Look",
				Attachments: []normalize.Attachment{{URL: "https://media.example.com/a.jpg", ContentType: "image/jpeg"}, {URL: "https://media.example.com/b.png"}}},
			wantForm: url.Values{"To": {"+15558675310"}, "From": {"+15017122661"}, "Body": {"Look"},
				"MediaUrl":       {"https://media.example.com/a.jpg", "https://media.example.com/b.png"},
				"StatusCallback": {"https://gw.example.com/webhooks/twilio/status"}},
		},
		"media only, own status callback": {
			send: outbox.Send{MessageID: "msg-3", Channel: "mms", From: phone("+15017122661"), To: phone("+15558675310"),
				Attachments: []normalize.Attachment{{URL: "https://media.example.com/a.jpg"}}, StatusCallback: "https://other.example.com/cb"},
			wantForm: url.Values{"To": {"+15558675310"}, "From": {"+15017122661"},
				"MediaUrl": {"https://media.example.com/a.jpg"}, "StatusCallback": {"https://other.example.com/cb"}},
		},
		"whatsapp text gets prefixes": {
			send: outbox.Send{MessageID: "msg-4", Channel: "whatsapp", From: phone("+14155238886"), To: phone("+15558675310"), Text: "Hi on WhatsApp"},
			wantForm: url.Values{"To": {"whatsapp:+15558675310"}, "From": {"whatsapp:+14155238886"}, "Body": {"Hi on WhatsApp"},
				"StatusCallback": {"https://gw.example.com/webhooks/twilio/status"}},
		},
		"whatsapp already prefixed": {
			send: outbox.Send{MessageID: "msg-5", Channel: "whatsapp", From: phone("whatsapp:+14155238886"), To: phone("whatsapp:+15558675310"), Text: "x"},
			wantForm: url.Values{"To": {"whatsapp:+15558675310"}, "From": {"whatsapp:+14155238886"}, "Body": {"x"},
				"StatusCallback": {"https://gw.example.com/webhooks/twilio/status"}},
		},
		"whatsapp template": {
			send: outbox.Send{MessageID: "msg-6", Channel: "whatsapp", From: phone("+14155238886"), To: phone("+15558675310"),
				Text:     "ignored: a template has its own text",
				Template: &outbox.Template{Name: "HXb5b62575e6e4ff6129ad7c8efe1f983e", Variables: map[string]string{"1": "Ann", "2": "12/1"}}},
			wantForm: url.Values{"To": {"whatsapp:+15558675310"}, "From": {"whatsapp:+14155238886"},
				"ContentSid":       {"HXb5b62575e6e4ff6129ad7c8efe1f983e"},
				"ContentVariables": {`{"1":"Ann","2":"12/1"}`},
				"StatusCallback":   {"https://gw.example.com/webhooks/twilio/status"}},
		},
		"messaging service as sender": {
			send: outbox.Send{MessageID: "msg-7", Channel: "sms", From: phone("MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), To: phone("+15558675310"), Text: "via service"},
			wantForm: url.Values{"To": {"+15558675310"}, "MessagingServiceSid": {"MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, "Body": {"via service"},
				"StatusCallback": {"https://gw.example.com/webhooks/twilio/status"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewTwilio(t)
			res, err := newSender(t, fake).Send(t.Context(), tc.send)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := fake.Messages()
			if len(msgs) != 1 || res.ProviderMessageID != msgs[0].SID || !strings.HasPrefix(res.ProviderMessageID, "SM") {
				t.Fatalf("ProviderMessageID = %q, fake accepted %+v", res.ProviderMessageID, msgs)
			}
			req := fake.Last()
			if req.Method != http.MethodPost || req.Path != "/2010-04-01/Accounts/"+providertest.TwilioAccountSID+"/Messages.json" {
				t.Errorf("request = %s %s", req.Method, req.Path)
			}
			if got := req.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := req.Header.Values("User-Agent"); !slices.Equal(got, []string{userAgent}) {
				t.Errorf("User-Agent = %q, want exactly %q", got, userAgent)
			}
			r := &http.Request{Header: req.Header}
			if u, p, ok := r.BasicAuth(); !ok || u != providertest.TwilioAccountSID || p != providertest.TwilioAuthToken {
				t.Errorf("basic auth = %q:%q", u, p)
			}
			if got := req.Header.Get("I-Twilio-Idempotency-Token"); got != tc.send.MessageID {
				t.Errorf("I-Twilio-Idempotency-Token = %q, want %q", got, tc.send.MessageID)
			}
			// The status callback names the gateway message.
			if cb := req.Form.Get("StatusCallback"); cb != "" {
				base, q, _ := strings.Cut(cb, "?")
				if q != twilio.CallbackParam+"="+tc.send.MessageID {
					t.Errorf("StatusCallback %q does not name message %s", cb, tc.send.MessageID)
				}
				req.Form.Set("StatusCallback", base)
			}
			if !equalForm(req.Form, tc.wantForm) {
				t.Errorf("form =\n%v\nwant\n%v", req.Form, tc.wantForm)
			}
		})
	}
}

func equalForm(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestSendErrors(t *testing.T) {
	sms := outbox.Send{MessageID: "m", Channel: "sms", From: phone("+15017122661"), To: phone("+15558675310"), Text: "hi"}
	with := func(f func(*outbox.Send)) outbox.Send { s := sms; f(&s); return s }
	tests := map[string]struct {
		script     func(*providertest.Twilio)
		send       outbox.Send
		permanent  bool
		status     int
		code       string
		retryAfter time.Duration
	}{
		"503 with an HTML body is transient": {
			script: func(f *providertest.Twilio) {
				f.FailNext(1, 503, "<html>Service Unavailable</html>", map[string]string{"Content-Type": "text/html", "Retry-After": "3"})
			},
			send: sms, status: 503, retryAfter: 3 * time.Second,
		},
		"invalid number is permanent": {
			send: with(func(s *outbox.Send) { s.To = phone(providertest.TwilioInvalidNumber) }), permanent: true, status: 400, code: "21211",
		},
		"unsubscribed recipient is permanent": {
			send: with(func(s *outbox.Send) { s.To = phone(providertest.TwilioUnsubscribedNumber) }), permanent: true, status: 400, code: "21610",
		},
		"whatsapp outside the window is permanent": {
			send: with(func(s *outbox.Send) {
				s.Channel, s.To, s.From = "whatsapp", phone(providertest.TwilioOutsideWindow), phone("+14155238886")
			}),
			permanent: true, status: 400, code: "63016",
		},
		"body over 1600 characters is permanent": {
			send: with(func(s *outbox.Send) { s.Text = strings.Repeat("é", 1601) }), permanent: true, status: 400, code: "21617",
		},
		"wrong credentials are permanent": {
			script: func(f *providertest.Twilio) { f.AuthToken = "rotated0token" },
			send:   sms, permanent: true, status: 401, code: "20003",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewTwilio(t)
			s := newSender(t, fake)
			if tc.script != nil {
				tc.script(fake)
			}
			_, err := s.Send(t.Context(), tc.send)
			var se *outbox.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *outbox.SendError", err)
			}
			if errors.Is(err, outbox.ErrPermanent) != tc.permanent || se.Permanent != tc.permanent {
				t.Errorf("permanent = %v, want %v (%v)", se.Permanent, tc.permanent, err)
			}
			if se.HTTPStatus != tc.status || se.ProviderCode != tc.code || se.RetryAfter != tc.retryAfter {
				t.Errorf("got status %d code %q retry-after %v, want %d %q %v (%v)",
					se.HTTPStatus, se.ProviderCode, se.RetryAfter, tc.status, tc.code, tc.retryAfter, err)
			}
			if fake.Accepted() != 0 {
				t.Errorf("fake accepted %d messages on a failed send", fake.Accepted())
			}
		})
	}
}

func TestSendRejectedBeforeSending(t *testing.T) {
	ok := outbox.Send{MessageID: "m", Channel: "sms", From: phone("+15017122661"), To: phone("+15558675310"), Text: "hi"}
	tests := map[string]func(*outbox.Send){
		"no sender":            func(s *outbox.Send) { s.From = normalize.Party{} },
		"no recipient":         func(s *outbox.Send) { s.To = normalize.Party{} },
		"nothing to send":      func(s *outbox.Send) { s.Text = "" },
		"eleven attachments":   func(s *outbox.Send) { s.Attachments = make([]normalize.Attachment, 11) },
		"template without sid": func(s *outbox.Send) { s.Template = &outbox.Template{} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			fake := providertest.NewTwilio(t)
			send := ok
			mutate(&send)
			_, err := newSender(t, fake).Send(t.Context(), send)
			if !errors.Is(err, outbox.ErrPermanent) {
				t.Fatalf("err = %v, want permanent", err)
			}
			if fake.Received() != 0 {
				t.Errorf("%d requests reached Twilio", fake.Received())
			}
		})
	}
}

// A send whose answer was lost is retried with the same message id: the
// idempotency token makes Twilio return the first message, not send again.
func TestResendAfterLostAnswer(t *testing.T) {
	fake := providertest.NewTwilio(t)
	s := newSender(t, fake)
	send := outbox.Send{MessageID: "0190b4c2-7e2a-7cc0-8d5e-5a3c2f9e0b11", Channel: "sms", From: phone("+15017122661"), To: phone("+15558675310"), Text: "once"}
	fake.AcceptThenHang(1)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err := s.Send(ctx, send)
	cancel()
	if err == nil || errors.Is(err, outbox.ErrPermanent) {
		t.Fatalf("first send: err = %v, want transient", err)
	}
	res, err := s.Send(t.Context(), send)
	if err != nil {
		t.Fatal(err)
	}
	msgs := fake.Messages()
	if fake.Accepted() != 1 || fake.Duplicates() != 1 || len(msgs) != 1 || res.ProviderMessageID != msgs[0].SID {
		t.Errorf("accepted %d, duplicates %d, sid %q, messages %+v; want one message sent once",
			fake.Accepted(), fake.Duplicates(), res.ProviderMessageID, msgs)
	}
}

// TWILIO_EDGE and TWILIO_REGION make twilio-go rewrite api.twilio.com; the
// configured base URL must win.
func TestBaseURLIgnoresEdgeEnvironment(t *testing.T) {
	t.Setenv("TWILIO_EDGE", "sydney")
	t.Setenv("TWILIO_REGION", "au1")
	fake := providertest.NewTwilio(t)
	if _, err := newSender(t, fake).Send(t.Context(), outbox.Send{MessageID: "m", Channel: "sms", From: phone("+15017122661"), To: phone("+15558675310"), Text: "hi"}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSend measures the sender (a twilio-go client per send) against a
// fake answering after a realistic latency, with parallel senders.
func BenchmarkSend(b *testing.B) {
	fake := providertest.NewTwilio(b)
	fake.SetLatency(2 * time.Millisecond)
	s, err := twilio.NewSender(twilio.SenderConfig{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, BaseURL: fake.URL})
	if err != nil {
		b.Fatal(err)
	}
	send := outbox.Send{Channel: "sms", From: phone("+15017122661"), To: phone("+15558675310"), Text: "benchmark"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Send(context.Background(), send); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
