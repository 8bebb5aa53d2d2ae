package outbox_test

import (
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// A dispatcher dies after the provider took a reply and before the database
// recorded it. The provider's status callback names the gateway's message
// (Twilio: in the callback URL; WhatsApp: biz_opaque_callback_data), so when
// the lease runs out the next dispatcher sees the reply was sent and does
// not send it again.
func TestCrashAfterSendIsNotSentTwice(t *testing.T) {
	twilioFake := providertest.NewTwilio(t)
	metaFake := providertest.NewMeta(t)
	tw, err := twilio.NewSender(twilio.SenderConfig{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken,
		BaseURL: twilioFake.URL, UserAgent: "gateway/1.0.0", StatusCallback: "https://gw.example.com/webhooks/twilio/status"})
	if err != nil {
		t.Fatal(err)
	}
	wa, err := meta.NewSender(meta.SenderConfig{GraphURL: metaFake.URL, Version: providertest.MetaGraphVersion,
		WhatsAppToken: providertest.MetaWhatsAppToken, PhoneNumberID: providertest.MetaPhoneNumberID, UserAgent: "gateway/1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	senders := map[string]outbox.Sender{"twilio": tw, "meta_whatsapp": wa}
	cases := []struct {
		provider, channel string
		accepted          func() int
	}{
		{"twilio", "sms", twilioFake.Accepted},
		{"meta_whatsapp", "whatsapp", metaFake.Accepted},
	}
	forEachStore(t, func(t *testing.T, dialect string) {
		for _, c := range cases {
			t.Run(c.provider, func(t *testing.T) {
				e := newEnv(t, dialect)
				conv := e.inbound(c.provider, c.channel, "+14155550101")
				m := e.reply(conv, "your parcel is out for delivery")
				before := c.accepted()

				// The first dispatcher claims the reply, the provider takes it, and
				// the dispatcher dies before recording anything.
				jobs, err := e.svc.DispatchQueue().Claim(ctx, 100*time.Millisecond, 10)
				if err != nil || len(jobs) != 1 {
					t.Fatalf("claim: %v %v", jobs, err)
				}
				ob, _ := core.DecodeOutbound(jobs[0])
				res, err := senders[c.provider].Send(ctx, outbox.Send{MessageID: ob.MessageID, Channel: ob.Channel, From: ob.From, To: ob.To, Text: ob.Text})
				if err != nil {
					t.Fatal(err)
				}
				// The provider reports the message, naming the gateway's id.
				st := normalize.Status{Provider: c.provider, ProviderMessageID: res.ProviderMessageID, Status: "delivered",
					Channel: c.channel, MessageID: m.ID, At: time.Now()}
				if _, err := e.svc.HandleInbound(ctx, []core.Inbound{{Status: &st}}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(150 * time.Millisecond) // the lease runs out

				d := outbox.New(e.svc.DispatchQueue(), senders, fastConfig(), discard(), nil)
				run(t, d, func() bool {
					s, _ := e.status(m.ID)
					return s == "delivered" && e.outboxState(m.ID) == core.DispatchDone
				})
				if n := c.accepted() - before; n != 1 {
					t.Fatalf("the provider took the reply %d times", n)
				}
			})
		}
	})
}
