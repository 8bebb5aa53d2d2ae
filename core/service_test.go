package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// env is a conversation engine on one store with a test clock.
type env struct {
	t     *testing.T
	svc   *core.Service
	store *sqlstore.Store
	clock *sqltest.Clock
}

func newEnv(t *testing.T, dialect string, policy core.Policy) *env {
	t.Helper()
	e := newBenchEnv(t, dialect)
	e.t = t
	e.svc = core.NewService(e.store, withDefaults(policy), core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"},
		slog.New(slog.NewTextHandler(io.Discard, nil)), core.NewMetrics(nil))
	return e
}

func withDefaults(policy core.Policy) core.Policy {
	if policy.ReopenWindow == 0 && policy.ReopenWindowByChannel == nil {
		policy.ReopenWindow = 72 * time.Hour
	}
	if policy.AutoCloseAfter == 0 {
		policy.AutoCloseAfter = 96 * time.Hour
	}
	return policy
}

// newBenchEnv is newEnv for tests and benchmarks alike.
func newBenchEnv(tb testing.TB, dialect string) *env {
	policy := withDefaults(core.Policy{})
	t := tb
	clock := sqltest.NewClock()
	store := sqltest.Open(t, dialect, sqlstore.WithClock(clock.Now))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := core.NewService(store, policy, core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"}, log, core.NewMetrics(nil))
	return &env{svc: svc, store: store, clock: clock}
}

// forEachStore runs a behaviour test on SQLite and PostgreSQL.
func forEachStore(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range sqltest.Dialects {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// seq numbers provider message ids; tests send from many goroutines.
var seq atomic.Int64

func sms(from, text string) normalize.Message {
	n := seq.Add(1)
	return normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelSMS, Provider: "twilio",
		ProviderMessageID: fmt.Sprintf("SM%032d", n), Direction: normalize.Inbound,
		From: normalize.Party{Kind: normalize.KindPhone, Address: from},
		To:   normalize.Party{Kind: normalize.KindPhone, Address: "+15558675310"}, Text: text}
}

func whatsapp(from, text string) normalize.Message {
	m := sms(from, text)
	m.Channel = normalize.ChannelWhatsApp
	return m
}

func (e *env) receive(msgs ...normalize.Message) []string {
	e.t.Helper()
	res, err := e.tryReceive(msgs...)
	if err != nil {
		e.t.Fatalf("HandleInbound: %v", err)
	}
	return res
}

func (e *env) tryReceive(msgs ...normalize.Message) ([]string, error) {
	batch := make([]core.Inbound, len(msgs))
	for i := range msgs {
		m := msgs[i]
		batch[i] = core.Inbound{Event: normalize.Event{ID: m.MessageID, Type: normalize.TypeMessageReceived}, Message: &m}
	}
	return e.svc.HandleInbound(context.Background(), batch)
}

type published struct {
	Type string
	Key  string
	Data core.EventData
}

// events drains the event outbox as the relay would.
func (e *env) events() []published {
	e.t.Helper()
	var out []published
	for {
		n, err := e.store.ClaimEvents(context.Background(), 100, func(evs []core.OutboxEvent) error {
			for _, oe := range evs {
				if oe.Topic != "gateway.events.v1" {
					continue // dead letters
				}
				if err := normalize.ValidateEvent("", oe.Value); err != nil {
					e.t.Errorf("event does not match its schema: %v\n%s", err, oe.Value)
				}
				ev, err := normalize.DecodeEvent(oe.Value)
				if err != nil {
					return err
				}
				var d core.EventData
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					return err
				}
				out = append(out, published{Type: ev.Type, Key: oe.Key, Data: d})
			}
			return nil
		})
		if err != nil {
			e.t.Fatalf("ClaimEvents: %v", err)
		}
		if n == 0 {
			return out
		}
	}
}

func types(evs []published) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFirstMessageCreatesCustomerAndConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		if res := e.receive(sms("+14155550101", "hello")); res[0] != core.ResultCreated {
			t.Fatalf("result %v, want created", res)
		}
		evs := e.events()
		want := []string{"customer.created", "conversation.created", "message.received", "contact.started"}
		if !equal(types(evs), want) {
			t.Fatalf("events %v, want %v", types(evs), want)
		}
		cust := evs[0].Data.CustomerID
		for _, ev := range evs {
			if ev.Key != cust || ev.Data.CustomerID != cust {
				t.Errorf("%s: key %q customer %q, want %q for both", ev.Type, ev.Key, ev.Data.CustomerID, cust)
			}
		}
		if evs[2].Data.ConversationID == "" || evs[2].Data.ConversationID != evs[1].Data.ConversationID {
			t.Errorf("message.received conversation %q, conversation.created %q", evs[2].Data.ConversationID, evs[1].Data.ConversationID)
		}
		if evs[2].Data.Message == nil || evs[2].Data.Message.Text != "hello" {
			t.Errorf("message.received does not carry the message: %+v", evs[2].Data.Message)
		}
		if evs[1].Data.Conversation.Status != core.StatusNew {
			t.Errorf("new conversation status %q, want new", evs[1].Data.Conversation.Status)
		}
	})
}

func TestSecondMessageJoinsTheConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "one"))
		first := e.events()
		e.clock.Advance(time.Minute)
		// WhatsApp from the same phone is the same customer and conversation.
		if res := e.receive(sms("+14155550101", "two"), whatsapp("+14155550101", "three")); res[0] != core.ResultAttached || res[1] != core.ResultAttached {
			t.Fatalf("results %v, want attached twice", res)
		}
		evs := e.events()
		// The WhatsApp message starts a second contact.
		if !equal(types(evs), []string{"message.received", "message.received", "contact.started"}) {
			t.Fatalf("events %v", types(evs))
		}
		for _, ev := range evs {
			if ev.Data.ConversationID != first[1].Data.ConversationID || ev.Data.CustomerID != first[0].Data.CustomerID {
				t.Errorf("%s joined conversation %s of %s, want %s of %s", ev.Data.Channel, ev.Data.ConversationID,
					ev.Data.CustomerID, first[1].Data.ConversationID, first[0].Data.CustomerID)
			}
		}
	})
}

func TestProviderRetryIsDropped(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		m := sms("+14155550101", "hello")
		e.receive(m)
		e.events()
		retry := m
		retry.MessageID = normalize.NewID() // the connector gives every delivery a new id
		if res := e.receive(retry, retry); res[0] != core.ResultDuplicate || res[1] != core.ResultDuplicate {
			t.Fatalf("results %v, want duplicate", res)
		}
		if evs := e.events(); len(evs) != 0 {
			t.Fatalf("a retry published %v", types(evs))
		}
	})
}

// One non-closed conversation per customer, under concurrency: messages for
// one customer on two channels from many goroutines at once.
func TestConcurrentMessagesShareOneConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					m := sms("+14155550101", fmt.Sprintf("w%d-%d", w, i))
					m.ProviderMessageID = fmt.Sprintf("SMc%02d%03d", w, i)
					if w%2 == 1 {
						m.Channel = normalize.ChannelWhatsApp
					}
					for {
						_, err := e.tryReceive(m)
						if err == nil {
							break
						}
						if !isTransient(err) {
							errs <- err
							return
						}
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		convs := map[string]int{}
		customers := map[string]bool{}
		for _, ev := range e.events() {
			if ev.Type == "message.received" {
				convs[ev.Data.ConversationID]++
				customers[ev.Data.CustomerID] = true
			}
		}
		if len(convs) != 1 || len(customers) != 1 {
			t.Fatalf("messages landed in %d conversations of %d customers, want 1 and 1: %v", len(convs), len(customers), convs)
		}
		for id, n := range convs {
			if n != workers*each {
				t.Fatalf("%d messages attached, want %d", n, workers*each)
			}
			// The counters are exact too.
			c, err := e.svc.Conversation(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if c.Unreplied != workers*each || c.MessageCount != workers*each {
				t.Fatalf("unreplied %d, message_count %d, want %d", c.Unreplied, c.MessageCount, workers*each)
			}
		}
	})
}

// Two cores handling batches of the same new customers at once (in
// opposite orders) end with one customer per identity and one active
// conversation per customer holding every message: customers made in bulk
// lose a race to another batch's like those made one by one.
func TestConcurrentBatchesOfNewCustomers(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		const customers, rounds = 40, 3
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					var ms []normalize.Message
					for i := 0; i < customers; i++ {
						k := i
						if w == 1 {
							k = customers - 1 - i
						}
						ms = append(ms, sms(fmt.Sprintf("+1415777%04d", k), fmt.Sprintf("w%d-r%d", w, r)))
					}
					for {
						_, err := e.tryReceive(ms...)
						if err == nil {
							break
						}
						if !isTransient(err) {
							errs <- err
							return
						}
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		created, convs, byCustomer := 0, map[string]int{}, map[string]map[string]bool{}
		for _, ev := range e.events() {
			switch ev.Type {
			case "customer.created":
				created++
			case "message.received":
				convs[ev.Data.ConversationID]++
				if byCustomer[ev.Data.CustomerID] == nil {
					byCustomer[ev.Data.CustomerID] = map[string]bool{}
				}
				byCustomer[ev.Data.CustomerID][ev.Data.ConversationID] = true
			}
		}
		if created != customers || len(byCustomer) != customers || len(convs) != customers {
			t.Fatalf("%d customer.created, messages of %d customers in %d conversations, want %d of each",
				created, len(byCustomer), len(convs), customers)
		}
		for id, n := range convs {
			c, err := e.svc.Conversation(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if n != 2*rounds || c.MessageCount != 2*rounds || c.Status == core.StatusClosed {
				t.Fatalf("conversation %s: %d messages, message_count %d, status %s; want %d, active", id, n, c.MessageCount, c.Status, 2*rounds)
			}
		}
	})
}
