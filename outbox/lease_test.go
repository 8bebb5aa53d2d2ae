package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/outbox"
)

// counting is a Sender that counts sends per message id.
type counting struct {
	mu    sync.Mutex
	byID  map[string]int
	delay time.Duration
}

func (c *counting) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	time.Sleep(c.delay)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[m.MessageID]++
	return outbox.Result{ProviderMessageID: "SM" + m.MessageID}, nil
}

func (c *counting) total() (sends, distinct int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.byID {
		sends += n
	}
	return sends, len(c.byID)
}

// Two dispatchers on one PostgreSQL database (FOR UPDATE SKIP LOCKED) never
// send a row twice, and keep each conversation's order.
func TestTwoDispatchersNeverSendTwice(t *testing.T) {
	url := sqltest.URL(t, sqlstore.Postgres)
	e := envOn(t, url)
	const convs, each = 10, 5
	for c := 0; c < convs; c++ {
		id := e.conversation(fmt.Sprintf("+141555503%02d", c))
		for i := 0; i < each; i++ {
			e.reply(id, fmt.Sprintf("c%02d-%d", c, i))
		}
	}
	s := &counting{byID: map[string]int{}, delay: 5 * time.Millisecond}
	cfg := fastConfig()
	d1 := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{"twilio": s}, cfg, discard(), nil)
	// The second dispatcher has its own store and connection pool, as a
	// second process would.
	d2 := outbox.New(envOn(t, url).svc.DispatchQueue(), map[string]outbox.Sender{"twilio": s}, cfg, discard(), nil)
	c, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, d := range []*outbox.Dispatcher{d1, d2} {
		wg.Add(1)
		go func(d *outbox.Dispatcher) { defer wg.Done(); d.Run(c) }(d)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		sends, _ := s.total()
		if sends >= convs*each || time.Now().After(deadline) {
			break
		}
		d1.Wake()
		d2.Wake()
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a double send to show
	cancel()
	wg.Wait()
	sends, distinct := s.total()
	if sends != convs*each || distinct != convs*each {
		t.Fatalf("%d sends of %d distinct messages, want %d of %d", sends, distinct, convs*each, convs*each)
	}
}

// A dispatcher that dies after claiming (before recording the outcome)
// leaves the row leased; once the lease runs out another dispatcher takes
// it, marked as a resend so the sender can use the provider's idempotency.
func TestExpiredLeaseIsClaimedAgainAsResend(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		conv := e.conversation("+14155550101")
		e.reply(conv, "hello")
		jobs, err := e.svc.DispatchQueue().Claim(ctx, 50*time.Millisecond, 10)
		if err != nil || len(jobs) != 1 || jobs[0].Resend {
			t.Fatalf("first claim %+v %v", jobs, err)
		}
		if again, _ := e.svc.DispatchQueue().Claim(ctx, time.Minute, 10); len(again) != 0 {
			t.Fatalf("a leased row was claimed twice: %+v", again)
		}
		time.Sleep(80 * time.Millisecond) // the first dispatcher "died"
		again, err := e.svc.DispatchQueue().Claim(ctx, time.Minute, 10)
		if err != nil || len(again) != 1 || !again[0].Resend || again[0].MessageID != jobs[0].MessageID {
			t.Fatalf("after the lease: %+v %v", again, err)
		}
		if err := e.svc.DispatchQueue().MarkSent(ctx, again[0], "twilio", "SM1"); err != nil {
			t.Fatal(err)
		}
		if st, _ := e.status(again[0].MessageID); st != "sent" {
			t.Fatalf("status %s", st)
		}
	})
}

// envOn builds a service on its own store for a database URL.
func envOn(t *testing.T, url string) *env {
	store, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := core.NewService(store, core.Policy{ReopenWindow: time.Hour, AutoCloseAfter: time.Hour},
		core.EventTopics{Events: "events", DLQ: "dlq"}, discard(), core.NewMetrics(nil))
	return &env{t: t, svc: svc, store: store}
}
