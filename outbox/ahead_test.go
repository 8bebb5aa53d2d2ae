package outbox_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/outbox"
)

// gated is a Sender whose sends wait until the gate opens (or their
// context ends).
type gated struct {
	mu      sync.Mutex
	started int
	gate    chan struct{}
}

func (g *gated) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	g.mu.Lock()
	g.started++
	g.mu.Unlock()
	select {
	case <-g.gate:
		return outbox.Result{ProviderMessageID: "SM" + m.MessageID}, nil
	case <-ctx.Done(): // the test gave up: the dispatcher stops instead of hanging
		return outbox.Result{}, ctx.Err()
	}
}

func (g *gated) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.started
}

// sendingRows counts the dispatch queue rows leased to a dispatcher.
func (e *env) sendingRows() int {
	var n int
	if err := e.store.DB().QueryRow(`SELECT COUNT(*) FROM outbox WHERE state = 'sending'`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// While every worker waits on its provider, the dispatcher holds replies
// claimed ahead (half as many as its workers), so a worker that finishes
// starts its next send without waiting for a claim; each is still sent once.
func TestClaimsKeepRepliesReadyAheadOfWorkers(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.queue(20)
		g := &gated{gate: make(chan struct{})}
		cfg := fastConfig()
		cfg.Workers = 4
		d := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{"twilio": g}, cfg, discard(), nil)
		opened := false
		run(t, d, func() bool {
			if !opened && g.count() == 4 && e.sendingRows() == 4+2 {
				close(g.gate)
				opened = true
			}
			return opened && e.sentCount() == 20
		})
		if n := g.count(); n != 20 {
			t.Fatalf("%d sends of 20 replies", n)
		}
	})
}

// sentCount counts the replies recorded as sent.
func (e *env) sentCount() int {
	var n int
	if err := e.store.DB().QueryRow(`SELECT COUNT(*) FROM outbox WHERE state = 'done'`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// claimsCounted counts the claims that found nothing.
type claimsCounted struct {
	*core.DispatchQueue
	empty atomic.Int64
}

func (q *claimsCounted) Claim(ctx context.Context, lease time.Duration, limit int) ([]core.DispatchJob, error) {
	jobs, err := q.DispatchQueue.Claim(ctx, lease, limit)
	if err == nil && len(jobs) == 0 {
		q.empty.Add(1)
	}
	return jobs, err
}

// The database work of a send (its claim, the record of the provider's
// answer, its events) is shared with the other sends under way: the
// transactions and statements of 200 sends through 16 workers stay a
// fraction of one per send.
func TestDispatchTransactionsPerSend(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		const n = 200
		e.queue(n)
		s := &counting{byID: map[string]int{}, delay: 20 * time.Millisecond}
		cfg := fastConfig()
		cfg.Workers = 16
		q := &claimsCounted{DispatchQueue: e.svc.DispatchQueue()}
		d := outbox.New(q, map[string]outbox.Sender{"twilio": s}, cfg, discard(), nil)
		tx0, st0 := e.store.Transactions(), e.store.Statements()
		run(t, d, func() bool { return e.sentCount() == n })
		// A claim that finds nothing (a poll of an idle queue) costs one
		// transaction of one statement whatever the sends: it is not counted.
		empty := q.empty.Load()
		txs, sts := e.store.Transactions()-tx0-empty, e.store.Statements()-st0-empty
		t.Logf("%d sends: %d transactions, %d statements, %d empty claims", n, txs, sts, empty)
		if txs > n/2 || sts > 2*n {
			t.Errorf("%d sends took %d transactions (want <= %d) and %d statements (want <= %d)", n, txs, n/2, sts, 2*n)
		}
	})
}
