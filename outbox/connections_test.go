package outbox_test

import (
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/outbox"
)

// TestSendsReuseConnections: replies to many conversations, sent at once by
// the dispatcher's default workers through the Twilio sender's default
// client, reuse kept connections: at most one per worker is opened, not
// one per send (Go's default transport keeps two idle connections per host,
// so the others would open, and against api.twilio.com handshake TLS, anew
// for every send).
func TestSendsReuseConnections(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		const sends = 400
		repliesWaiting(t, e.svc, sends)
		fake := providertest.NewTwilio(t)
		fake.SetLatency(20 * time.Millisecond)
		tw, err := twilio.NewSender(twilio.SenderConfig{AccountSID: providertest.TwilioAccountSID,
			AuthToken: providertest.TwilioAuthToken, BaseURL: fake.URL})
		if err != nil {
			t.Fatal(err)
		}
		d := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{"twilio": tw}, outbox.Config{Poll: 5 * time.Millisecond}, discard(), nil)
		run(t, d, func() bool { return fake.Accepted() == sends })
		const workers = 64 // outbox.Config's default
		if got := fake.Connections(); got > workers {
			t.Fatalf("%d sends by %d workers opened %d connections, want at most %d", sends, workers, got, workers)
		}
		t.Logf("%d sends, %d connections", sends, fake.Connections())
	})
}
