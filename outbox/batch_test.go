package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// replies queues a reply in each of n new conversations and returns them
// claimed.
func (e *env) replies(n int) []core.DispatchJob {
	e.t.Helper()
	e.queue(n)
	jobs, err := e.svc.DispatchQueue().Claim(ctx, time.Minute, n)
	if err != nil || len(jobs) != n {
		e.t.Fatalf("claimed %d of %d (%v)", len(jobs), n, err)
	}
	return jobs
}

// queue queues a reply in each of n new conversations.
func (e *env) queue(n int) {
	e.t.Helper()
	var batch []core.Inbound
	for i := 0; i < n; i++ {
		m := normalize.Message{MessageID: normalize.NewID(), Channel: "sms", Provider: "twilio", ProviderMessageID: fmt.Sprintf("INb%d", i),
			Direction: normalize.Inbound, From: normalize.Party{Kind: "phone", Address: fmt.Sprintf("+1415888%04d", i)},
			To: normalize.Party{Kind: "phone", Address: "+15558675310"}, Text: "hi"}
		batch = append(batch, core.Inbound{Message: &m})
	}
	if _, err := e.svc.HandleInbound(ctx, batch); err != nil {
		e.t.Fatal(err)
	}
	convs, err := e.svc.ListConversations(ctx, core.ConversationFilter{Limit: n})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range convs {
		e.reply(c.ID, "on its way")
	}
}

// Recording a group of accepted sends costs the same number of statements
// whatever its size (a few in all, not five per send), on both stores,
// and applies each send's early status.
func TestMarkSentBatchStatementsDoNotGrow(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		jobs := e.replies(55)
		cost := func(jobs []core.DispatchJob) int64 {
			var sent []core.Sent
			for _, j := range jobs {
				sent = append(sent, core.Sent{Job: j, Provider: "twilio", ProviderMessageID: "SMsent" + j.MessageID})
			}
			// The provider's callback for the first came before the send was recorded.
			early := &normalize.Status{Provider: "twilio", ProviderMessageID: sent[0].ProviderMessageID, Status: normalize.StatusDelivered}
			if _, err := e.svc.HandleInbound(ctx, []core.Inbound{{Status: early}}); err != nil {
				t.Fatal(err)
			}
			before := e.store.Statements()
			if err := e.svc.DispatchQueue().MarkSentBatch(ctx, sent); err != nil {
				t.Fatal(err)
			}
			return e.store.Statements() - before
		}
		small, large := cost(jobs[:5]), cost(jobs[5:])
		t.Logf("statements: 5 sends %d, 50 sends %d", small, large)
		if large > small {
			t.Errorf("recording 50 sends took %d statements, 5 sends %d: something is done per send", large, small)
		}
		for i, j := range jobs {
			want := normalize.StatusSent
			if i == 0 || i == 5 {
				want = normalize.StatusDelivered
			}
			if st, _ := e.status(j.MessageID); st != want || e.outboxState(j.MessageID) != core.DispatchDone {
				t.Fatalf("reply %d: status %s, outbox %s; want %s, done", i, st, e.outboxState(j.MessageID), want)
			}
		}
	})
}

// claimLog records the limit of each claim and whether it filled it.
type claimLog struct {
	*core.DispatchQueue
	mu     sync.Mutex
	limits []int
	full   []bool
}

func (c *claimLog) Claim(ctx context.Context, lease time.Duration, limit int) ([]core.DispatchJob, error) {
	jobs, err := c.DispatchQueue.Claim(ctx, lease, limit)
	c.mu.Lock()
	c.limits, c.full = append(c.limits, limit), append(c.full, len(jobs) == limit)
	c.mu.Unlock()
	return jobs, err
}

// jittery accepts every send after a random few milliseconds, so that
// sends finish one by one.
type jittery struct{ sent atomic.Int64 }

func (j *jittery) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	time.Sleep(time.Duration(1+rand.IntN(20)) * time.Millisecond)
	return outbox.Result{ProviderMessageID: fmt.Sprintf("SMj%d", j.sent.Add(1))}, nil
}

// While replies wait, the dispatcher claims them in groups: a claim after
// one that filled every free worker waits for a quarter of the workers to
// be free, rather than taking a transaction per finished send.
func TestClaimsWaitForAQuarterOfTheWorkers(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		const n = 120
		e.queue(n)
		log := &claimLog{DispatchQueue: e.svc.DispatchQueue()}
		sender := &jittery{}
		cfg := fastConfig()
		cfg.Workers = 16
		d := outbox.New(log, map[string]outbox.Sender{"twilio": sender}, cfg, discard(), nil)
		run(t, d, func() bool { return sender.sent.Load() >= n })
		if got := sender.sent.Load(); got != n {
			t.Fatalf("%d sends of %d replies", got, n)
		}
		log.mu.Lock()
		defer log.mu.Unlock()
		for i := 1; i < len(log.limits); i++ {
			if log.full[i-1] && log.limits[i] < cfg.Workers/4 {
				t.Fatalf("claim %d asked for %d rows right after a claim that filled every free worker (limits %v)", i, log.limits[i], log.limits)
			}
		}
	})
}
