package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
)

// replyLoad posts replies through the operator API of the core instances in
// turn, to the conversations given, until stop is closed. ok are the texts
// answered 202; maybe those whose request failed on the way (the instance
// was killed), which may or may not have been queued.
type replyLoad struct {
	stop      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	ok, maybe []string
	refused   []string
}

func startReplies(cores []*childGateway, convs []string, token string) *replyLoad {
	r := &replyLoad{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-r.stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			text := fmt.Sprintf("r%05d", i)
			g := cores[i%len(cores)].view
			req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+"/v1/conversations/"+convs[i%len(convs)]+"/messages",
				strings.NewReader(`{"text":"`+text+`"}`))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			status := 0
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			r.mu.Lock()
			switch {
			case status == http.StatusAccepted:
				r.ok = append(r.ok, text)
			case status == 0 || status >= 500:
				r.maybe = append(r.maybe, text)
			default:
				r.refused = append(r.refused, fmt.Sprint(text, " ", status))
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *replyLoad) halt() { close(r.stop); r.wg.Wait() }

// checkSentOnce waits until Twilio has every reply answered 202 and checks
// that none reached it twice and none it should not have.
func checkSentOnce(t *testing.T, fake *providertest.Twilio, r *replyLoad) {
	t.Helper()
	if len(r.refused) > 0 {
		t.Errorf("replies refused: %v", r.refused)
	}
	bodies := func() map[string]int {
		n := map[string]int{}
		for _, m := range fake.Messages() {
			n[m.Body]++
		}
		return n
	}
	// A reply whose send the kill cut waits out the dead dispatcher's lease.
	deadline := time.Now().Add(faultTime(150 * time.Second))
	for {
		got, missing := bodies(), 0
		for _, text := range r.ok {
			if got[text] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d replies answered 202 never reached Twilio", missing, len(r.ok))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // room for a second send to show
	allowed := map[string]bool{}
	for _, text := range append(append([]string(nil), r.ok...), r.maybe...) {
		allowed[text] = true
	}
	for body, n := range bodies() {
		if n > 1 {
			t.Errorf("reply %s reached Twilio %d times", body, n)
		}
		if !allowed[body] {
			t.Errorf("reply %s reached Twilio but was never posted", body)
		}
	}
	t.Logf("replies: %d answered 202, %d cut, %d sent", len(r.ok), len(r.maybe), len(fake.Messages()))
}

// Two instances of every role in processes of their own, on PostgreSQL and
// one broker process, under webhook load on both ingest instances and replies
// through both core instances: one instance of each role is SIGKILLed and
// started again in turn. Every webhook answered 200 is on events.v1 under
// one event id, in order per contact, and every reply answered 202 reached
// Twilio once.
func TestFaultTwoOfEachRoleSIGKILL(t *testing.T) {
	fake := providertest.NewTwilio(t)
	fake.AuthToken = testToken
	c := newCluster(t, map[string]string{"GATEWAY_API_TOKENS": "agent:ann:agent-token",
		"TWILIO_ACCOUNT_SID": fake.AccountSID, "TWILIO_API_URL": fake.URL})
	cores := []*childGateway{c.start(t, "core", nil), c.start(t, "core", nil)}
	outboxes := []*childGateway{c.start(t, "outbox", nil), c.start(t, "outbox", nil)}
	var ingests []*childGateway
	for _, core := range cores {
		ingests = append(ingests, c.start(t, "ingest", map[string]string{"GATEWAY_CORE_URL": "http://" + core.view.Addr()}))
	}

	// Conversations to reply to, one per contact of their own.
	var first []inboundSMS
	for i := range 4 {
		m := inboundSMS{sid: fmt.Sprintf("SM%032d", 900000+i), from: fmt.Sprintf("+1415555%04d", 900+i), text: fmt.Sprintf("m%06d", i)}
		if s := postNoFail(http.DefaultClient, ingests[i%2].view, m); s != http.StatusOK {
			t.Fatalf("first message: %d", s)
		}
		first = append(first, m)
	}
	evs := consume(t, cores[0].view, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 4 })
	var convs []string
	for _, e := range ofType(evs, "message.received") {
		convs = append(convs, e.Data["conversation_id"].(string))
	}

	loads := []*load{startLoadFrom(ingests[0].view, 2, 1000, 200), startLoadFrom(ingests[1].view, 2, 500000, 300)}
	replies := startReplies(cores, convs, "agent-token")
	for _, g := range []*childGateway{cores[0], outboxes[0], ingests[0]} {
		time.Sleep(faultTime(800 * time.Millisecond))
		g.kill()
		time.Sleep(faultTime(200 * time.Millisecond))
		g.start()
	}
	time.Sleep(faultTime(800 * time.Millisecond))
	replies.halt()
	var ok, other []inboundSMS
	for _, l := range loads {
		l.halt()
		ok, other = append(ok, l.ok...), append(other, l.other...)
	}
	t.Logf("webhooks answered 200: %d, otherwise: %d", len(ok), len(other))
	if len(ok) < 40 || len(replies.ok) < 10 {
		t.Fatalf("only %d webhooks answered 200 and %d replies 202", len(ok), len(replies.ok))
	}
	checkDelivered(t, ingests[0].view, append(first, ok...), other...)
	checkSentOnce(t, fake, replies)
}
