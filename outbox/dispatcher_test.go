package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

var ctx = context.Background()

// scripted is a Sender that records sends and answers from a script.
type scripted struct {
	mu    sync.Mutex
	sent  []outbox.Send
	fails map[string][]error // by text: errors to return first, in order
	delay time.Duration
}

func (s *scripted) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return outbox.Result{}, &outbox.SendError{Message: "timeout"}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if errs := s.fails[m.Text]; len(errs) > 0 {
		s.fails[m.Text] = errs[1:]
		return outbox.Result{}, errs[0]
	}
	s.sent = append(s.sent, m)
	return outbox.Result{ProviderMessageID: fmt.Sprintf("SM%05d", len(s.sent))}, nil
}

func (s *scripted) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.sent {
		out = append(out, m.Text)
	}
	return out
}

type env struct {
	t     *testing.T
	svc   *core.Service
	store *sqlstore.Store
}

func newEnv(t *testing.T, dialect string) *env {
	store := sqltest.Open(t, dialect)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := core.NewService(store, core.Policy{ReopenWindow: time.Hour, AutoCloseAfter: time.Hour},
		core.EventTopics{Events: "events", DLQ: "dlq"}, log, core.NewMetrics(nil))
	return &env{t: t, svc: svc, store: store}
}

// conversation receives an SMS from a phone and returns its conversation.
func (e *env) conversation(phone string) string {
	e.t.Helper()
	m := normalize.Message{MessageID: normalize.NewID(), Channel: "sms", Provider: "twilio", ProviderMessageID: "IN" + phone,
		Direction: normalize.Inbound, From: normalize.Party{Kind: "phone", Address: phone},
		To: normalize.Party{Kind: "phone", Address: "+15558675310"}, Text: "hi", ReceivedAt: time.Now()}
	if _, err := e.svc.HandleInbound(ctx, []core.Inbound{{Message: &m}}); err != nil {
		e.t.Fatal(err)
	}
	c, err := e.svc.ListConversations(ctx, core.ConversationFilter{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, conv := range c {
		if conv.ContactAddress == phone {
			return conv.ID
		}
	}
	e.t.Fatal("no conversation")
	return ""
}

func (e *env) reply(conv, text string) core.StoredMessage {
	e.t.Helper()
	m, err := e.svc.Reply(ctx, conv, core.ReplyRequest{Text: text}, core.AgentActor("ann"))
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// status returns a message's delivery state, read through the service.
func (e *env) status(id string) (string, *core.DeliveryError) {
	e.t.Helper()
	convs, err := e.svc.ListConversations(ctx, core.ConversationFilter{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range convs {
		msgs, err := e.svc.Messages(ctx, c.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range msgs {
			if m.ID == id {
				return m.Status, m.Error
			}
		}
	}
	e.t.Fatalf("message %s not found", id)
	return "", nil
}

func (e *env) events() []string {
	var out []string
	for {
		n, err := e.store.ClaimEvents(ctx, 500, func(evs []core.OutboxEvent) error {
			for _, oe := range evs {
				if oe.Topic == "dlq" {
					out = append(out, "dlq")
					continue
				}
				var ev normalize.Event
				_ = json.Unmarshal(oe.Value, &ev)
				out = append(out, ev.Type)
			}
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

// run dispatches until cond holds (or fails the test after 10s).
func run(t *testing.T, d *outbox.Dispatcher, cond func() bool) {
	t.Helper()
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(c); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not met in 10s")
		}
		d.Wake()
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func fastConfig() outbox.Config {
	return outbox.Config{Workers: 8, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Poll: 5 * time.Millisecond, MaxAttempts: 4}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func forEachStore(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range sqltest.Dialects {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// Per conversation, replies go out in the order they were queued, even when
// the first one needs retries; a failed reply does not hold back later ones.
func TestOrderRetryAndFailure(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		conv := e.conversation("+14155550101")
		s := &scripted{fails: map[string][]error{
			"first":  {&outbox.SendError{HTTPStatus: 429, ProviderCode: "20429", Message: "Too Many Requests"}, &outbox.SendError{HTTPStatus: 500, Message: "oops"}},
			"second": {&outbox.SendError{Permanent: true, HTTPStatus: 400, ProviderCode: "21610", Message: "unsubscribed recipient"}},
		}}
		first, second, third := e.reply(conv, "first"), e.reply(conv, "second"), e.reply(conv, "third")
		d := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{"twilio": s}, fastConfig(), discard(), nil)
		run(t, d, func() bool { return len(s.texts()) == 2 })
		if got := fmt.Sprint(s.texts()); got != "[first third]" {
			t.Fatalf("sent %s, want [first third]", got)
		}
		if st, _ := e.status(first.ID); st != "sent" {
			t.Errorf("first is %s, want sent", st)
		}
		st, derr := e.status(second.ID)
		if st != "failed" || derr == nil || derr.ProviderCode != "21610" {
			t.Errorf("second is %s %+v, want failed with 21610", st, derr)
		}
		if st, _ := e.status(third.ID); st != "sent" {
			t.Errorf("third is %s, want sent", st)
		}
		evs := fmt.Sprint(e.events())
		for _, want := range []string{"message.queued", "message.sent", "message.failed", "dlq"} {
			if !strings.Contains(evs, want) {
				t.Errorf("events %s lack %s", evs, want)
			}
		}
	})
}

// After the last attempt a transient failure is final too.
func TestMaxAttempts(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		conv := e.conversation("+14155550101")
		busy := &outbox.SendError{HTTPStatus: 503, Message: "unavailable"}
		s := &scripted{fails: map[string][]error{"x": {busy, busy, busy, busy, busy}}}
		m := e.reply(conv, "x")
		d := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{"twilio": s}, fastConfig(), discard(), nil)
		run(t, d, func() bool { st, _ := e.status(m.ID); return st == "failed" })
		_, derr := e.status(m.ID)
		if derr.Code != "max_attempts" {
			t.Fatalf("error %+v, want max_attempts", derr)
		}
	})
}

// Sends run concurrently across conversations, in order within each.
func TestConcurrentAcrossConversations(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		const convs, each = 6, 4
		for c := 0; c < convs; c++ {
			id := e.conversation(fmt.Sprintf("+1415555020%d", c))
			for i := 0; i < each; i++ {
				e.reply(id, fmt.Sprintf("c%d-%d", c, i))
			}
		}
		s := &scripted{fails: map[string][]error{}, delay: 20 * time.Millisecond}
		d := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{"twilio": s}, fastConfig(), discard(), nil)
		start := time.Now()
		run(t, d, func() bool { return len(s.texts()) == convs*each })
		elapsed := time.Since(start)
		next := map[byte]int{}
		for _, txt := range s.texts() {
			c, i := txt[1], int(txt[3]-'0')
			if next[c] != i {
				t.Fatalf("conversation %c sent %d before %d: %v", c, i, next[c], s.texts())
			}
			next[c]++
		}
		t.Logf("%d sends of 20ms each over %d conversations took %v", convs*each, convs, elapsed)
	})
}

// inbound receives a message from a phone on a provider's channel and
// returns its conversation.
func (e *env) inbound(provider, channel, phone string) string {
	e.t.Helper()
	m := normalize.Message{MessageID: normalize.NewID(), Channel: channel, Provider: provider, ProviderMessageID: "IN-" + provider + phone,
		Direction: normalize.Inbound, From: normalize.Party{Kind: "phone", Address: phone},
		To: normalize.Party{Kind: "phone", Address: "+15558675310"}, Text: "hi", ReceivedAt: time.Now()}
	if _, err := e.svc.HandleInbound(ctx, []core.Inbound{{Message: &m}}); err != nil {
		e.t.Fatal(err)
	}
	cust, err := e.svc.Customers().FindCustomer(ctx, phone)
	if err != nil {
		e.t.Fatal(err)
	}
	convs, err := e.svc.ListConversations(ctx, core.ConversationFilter{CustomerID: cust.ID, Limit: 1})
	if err != nil || len(convs) != 1 {
		e.t.Fatalf("conversation: %v %v", convs, err)
	}
	return convs[0].ID
}

// outboxState reads a reply's outbox row state.
func (e *env) outboxState(messageID string) string {
	var st string
	q := `SELECT state FROM outbox WHERE message_id = ?`
	if e.store.Dialect() == sqlstore.Postgres {
		q = `SELECT state FROM outbox WHERE message_id = $1`
	}
	if err := e.store.DB().QueryRow(q, messageID).Scan(&st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

func contextWithCancel() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }
