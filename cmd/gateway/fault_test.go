package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore"
)

// The fault suite: a fault under load, then the accounting: every message
// answered 2xx is on events.v1 as one message.received under one event id,
// in order per contact; nothing else is.

// load posts SMS from one contact per worker, each worker in sequence,
// until stop is closed, and returns what was answered 200 and the rest.
type load struct {
	g       *Gateway
	stop    chan struct{}
	wg      sync.WaitGroup
	next    atomic.Int64
	mu      sync.Mutex
	ok      []inboundSMS
	other   []inboundSMS
	refused atomic.Int64 // answered 503
}

func startLoad(g *Gateway, workers int, first int64) *load {
	return startLoadFrom(g, workers, first, 200)
}

// startLoadFrom is startLoad with the workers' contacts numbered from
// contact on (two loads at once need contacts of their own).
func startLoadFrom(g *Gateway, workers int, first int64, contact int) *load {
	l := &load{g: g, stop: make(chan struct{})}
	l.next.Store(first)
	client := &http.Client{Timeout: 20 * time.Second}
	for w := range workers {
		from := fmt.Sprintf("+1415555%04d", contact+w)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				i := l.next.Add(1)
				m := inboundSMS{sid: fmt.Sprintf("SM%032d", i), from: from, text: fmt.Sprintf("m%06d", i)}
				status := postNoFail(client, g, m)
				l.mu.Lock()
				if status == http.StatusOK {
					l.ok = append(l.ok, m)
				} else {
					l.other = append(l.other, m)
				}
				l.mu.Unlock()
				if status == http.StatusServiceUnavailable {
					l.refused.Add(1)
				}
				if status == 0 {
					time.Sleep(20 * time.Millisecond) // the listener is gone
				}
				// At most ~200 webhooks a second per worker: enough to be
				// under load, few enough for the accounting to finish on a
				// busy 2-core CI machine.
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) halt() { close(l.stop); l.wg.Wait() }

// postNoFail posts a signed SMS and returns the status, 0 when the request
// failed (the gateway stopping).
func postNoFail(client *http.Client, g *Gateway, m inboundSMS) int {
	const path = "/webhooks/twilio/messaging"
	form := smsForm(m.sid, m.from, m.text)
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilio.Sign(testToken, testPublic+path, form))
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The broker dies under load and a new one starts on its data dir: with the
// spool every webhook is answered 200 and reaches events.v1; without it the
// webhooks of the outage are answered 503, and the accounting holds for
// those answered 200.
func TestFaultBrokerRestartUnderLoad(t *testing.T) {
	for _, spool := range []string{"on", "off"} {
		t.Run("spool "+spool, func(t *testing.T) {
			g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_SPOOL": spool})
			addr := g.embedded.Addr()
			l := startLoad(g, 4, 0)
			time.Sleep(500 * time.Millisecond)
			g.embedded.Close()
			time.Sleep(time.Second)
			restartBroker(t, g, addr)
			time.Sleep(time.Second)
			l.halt()
			t.Logf("answered 200: %d, otherwise: %d (503: %d)", len(l.ok), len(l.other), l.refused.Load())
			if spool == "on" && len(l.other) > 0 {
				t.Errorf("%d webhooks not answered 200 with the spool on", len(l.other))
			}
			if spool == "off" && l.refused.Load() == 0 {
				t.Errorf("no 503 with the spool off and the broker down for a second")
			}
			if len(l.ok) < 20 {
				t.Fatalf("only %d webhooks answered 200", len(l.ok))
			}
			if spool == "on" {
				waitMetric(t, g, "gateway_spool_records 0\n")
			}
			checkAccounting(t, g, l.ok, l.other...)
		})
	}
}

// SIGTERM under load: requests in flight are answered, and what was
// answered 200 is on events.v1 once after a restart on the same data dir.
func TestFaultSIGTERMUnderLoad(t *testing.T) {
	extra := map[string]string{"GATEWAY_DATA_DIR": t.TempDir(), "GATEWAY_EMBEDDED_KAFKA_ADDR": freePort(t)}
	g := startGateway(t, sqlstore.SQLite, extra)
	l := startLoad(g, 4, 0)
	time.Sleep(time.Second)
	if err := g.Close(); err != nil { // what SIGTERM does through run's context
		t.Fatal(err)
	}
	l.halt()
	t.Logf("answered 200: %d, otherwise: %d", len(l.ok), len(l.other))
	if len(l.ok) < 20 {
		t.Fatalf("only %d webhooks answered 200", len(l.ok))
	}
	g = startGateway(t, sqlstore.SQLite, extra)
	checkAccounting(t, g, l.ok, l.other...)
}
