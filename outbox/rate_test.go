package outbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/outbox"
)

// GATEWAY_OUTBOX_RATE_<CHANNEL> limits sends per second per sender: ten
// SMS from one business number at 5/s cannot all leave within a second
// (the limiter allows a burst of 5, then one every 200 ms).
func TestRateLimitPerSender(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	for i := 0; i < 10; i++ {
		e.reply(e.conversation(fmt.Sprintf("+141555504%02d", i)), fmt.Sprintf("r%d", i))
	}
	s := &scripted{fails: map[string][]error{}}
	cfg := fastConfig()
	cfg.RatePerSecond = map[string]float64{"sms": 5}
	d := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{"twilio": s}, cfg, discard(), nil)
	start := time.Now()
	run(t, d, func() bool { return len(s.texts()) == 10 })
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
		t.Fatalf("10 sends at 5/s took %v: the limit was not applied", elapsed)
	}
}
