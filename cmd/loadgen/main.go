// Command loadgen sends signed Twilio webhooks to a running gateway and
// reports throughput and latency percentiles. With -rate it is open-loop
// (requests start on schedule whether or not earlier ones finished, so a
// slow server shows up as latency, not as a lower offered rate); without it
// it sends as fast as -conns connections allow.
//
//	go run ./cmd/loadgen -url http://127.0.0.1:8080 -public http://127.0.0.1:8080 -token 12345 -rate 5000 -duration 20s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/connectors/twilio"
)

// runTag marks this run's messages so that its events can be told apart.
var runTag = fmt.Sprintf("load test %d", time.Now().UnixNano())

func main() {
	if sub, ok := subcommands[firstArg()]; ok {
		if err := sub(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	base := flag.String("url", "http://127.0.0.1:8080", "gateway base URL")
	public := flag.String("public", "", "GATEWAY_PUBLIC_URL of the gateway (default: -url)")
	token := flag.String("token", os.Getenv("TWILIO_AUTH_TOKEN"), "Twilio auth token")
	rate := flag.Int("rate", 0, "requests per second (0: as fast as possible)")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	conns := flag.Int("conns", 256, "connections")
	senders := flag.Int("senders", 10000, "distinct customer phone numbers")
	newFraction := flag.Float64("new-fraction", 0, "share of requests (0 to 1) from a sender never seen before; the others from the -senders numbers")
	events := flag.String("events", "", "Kafka broker: after sending, read events.v1 and report webhook → event latency")
	topic := flag.String("topic", "gateway.events.v1", "events topic for -events")
	summary := flag.Bool("summary", false, "also print one machine-readable line: RESULT sent= errors= rps= p50_ms= p99_ms=")
	sockets := flag.Int("chat-sockets", 0, "instead of webhooks: open this many idle web chat sockets, hold them for -duration")
	flag.Parse()
	if *sockets > 0 {
		if err := idleSockets(*base, *sockets, *dur); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *public == "" {
		*public = *base
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r := run(ctx, *base, *public, *token, *rate, *dur, *conns, sender(*senders, *newFraction))
	fmt.Println(r)
	if *summary {
		fmt.Println(r.summary())
	}
	if *events != "" {
		fmt.Println(eventLatency(ctx, *events, *topic, r.sent-r.errors))
	}
	if r.errors > 0 {
		os.Exit(1)
	}
}

type report struct {
	sent, errors int64
	elapsed      time.Duration
	lat          []time.Duration
	statuses     map[int]int64
}

func (r report) String() string {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	p := func(q float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))]
	}
	return fmt.Sprintf("requests %d in %v: %.0f/s; errors %d; statuses %v; latency p50 %v p90 %v p99 %v p99.9 %v max %v",
		r.sent, r.elapsed.Round(time.Millisecond), float64(r.sent)/r.elapsed.Seconds(), r.errors, r.statuses,
		p(.5), p(.9), p(.99), p(.999), p(1))
}

// summary is the report as one line of key=value pairs, for scripts.
func (r report) summary() string {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	p := func(q float64) float64 {
		if len(r.lat) == 0 {
			return 0
		}
		return float64(r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))].Microseconds()) / 1000
	}
	return fmt.Sprintf("RESULT sent=%d errors=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f", r.sent, r.errors,
		float64(r.sent)/r.elapsed.Seconds(), p(.5), p(.99))
}

// sender returns the phone number of request n: with probability
// newFraction one never seen before (unique to this run), else one of
// senders numbers.
func sender(senders int, newFraction float64) func(n int64) string {
	run := time.Now().UnixNano() / int64(time.Millisecond) % 10000
	return func(n int64) string {
		if newFraction > 0 && rand.Float64() < newFraction {
			return fmt.Sprintf("+19%04d%08d", run, n)
		}
		return fmt.Sprintf("+1415%07d", n%int64(senders))
	}
}

func run(ctx context.Context, base, public, token string, rate int, dur time.Duration, conns int, from func(n int64) string) report {
	const path = "/webhooks/twilio/messaging"
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	var seq atomic.Int64
	var mu sync.Mutex
	rep := report{statuses: map[int]int64{}}
	one := func() {
		n := seq.Add(1)
		form := url.Values{
			"MessageSid": {fmt.Sprintf("SM%016d%016d", time.Now().Unix(), n)}, "AccountSid": {"ACloadgen"},
			"From": {from(n)}, "To": {"+15558675310"},
			"Body": {fmt.Sprintf("%s %d", runTag, n)}, "NumMedia": {"0"}, "ApiVersion": {"2010-04-01"},
		}
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilio.Sign(token, public+path, form))
		start := time.Now()
		resp, err := client.Do(req)
		d := time.Since(start)
		status := 0
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		mu.Lock()
		rep.sent++
		rep.statuses[status]++
		if status != http.StatusOK {
			rep.errors++
		}
		rep.lat = append(rep.lat, d)
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	if rate > 0 {
		sem := make(chan struct{}, conns*4)
		interval := time.Second / time.Duration(rate)
		next := time.Now()
		for ctx.Err() == nil {
			if wait := time.Until(next); wait > 0 {
				time.Sleep(wait)
			}
			next = next.Add(interval)
			sem <- struct{}{}
			wg.Add(1)
			go func() { defer wg.Done(); one(); <-sem }()
		}
	} else {
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					one()
				}
			}()
		}
	}
	wg.Wait()
	rep.elapsed = time.Since(start)
	return rep
}

// eventLatency reads message.received events of this run from events.v1 and
// reports the time from the webhook's arrival (message.received_at) to the
// event's append to Kafka (the record timestamp), and that time's two
// parts: until the core's transaction that attached the message began (the
// event's time: the wait in inbound.v1 and the core's queue), and from then
// on (the transaction and the event relay).
func eventLatency(ctx context.Context, broker, topic string, want int64) string {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, GroupID: fmt.Sprintf("loadgen-%d", time.Now().UnixNano()),
		Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lat, queued, relayed []time.Duration
	for int64(len(lat)) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			break
		}
		if !bytes.Contains(m.Value, []byte(`"type":"message.received"`)) {
			continue // the others are three in four at 80 % new customers: not worth decoding
		}
		var ev struct {
			Type string    `json:"type"`
			Time time.Time `json:"time"`
			Data struct {
				Message struct {
					Text       string    `json:"text"`
					ReceivedAt time.Time `json:"received_at"`
				} `json:"message"`
			} `json:"data"`
		}
		if json.Unmarshal(m.Value, &ev) != nil || ev.Type != "message.received" || !strings.HasPrefix(ev.Data.Message.Text, runTag+" ") {
			continue
		}
		lat = append(lat, m.Time.Sub(ev.Data.Message.ReceivedAt))
		queued = append(queued, ev.Time.Sub(ev.Data.Message.ReceivedAt))
		relayed = append(relayed, m.Time.Sub(ev.Time))
	}
	if len(lat) == 0 {
		return "events: none read"
	}
	return fmt.Sprintf("webhook → events.v1: %d of %d events; %s\n  webhook → attach began: %s\n  attach began → events.v1: %s",
		len(lat), want, percentiles(lat), percentiles(queued), percentiles(relayed))
}

// percentiles sorts lat and reports its p50, p90, p99 and max.
func percentiles(lat []time.Duration) string {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	return fmt.Sprintf("p50 %v p90 %v p99 %v max %v", p(.5), p(.9), p(.99), p(1))
}

// idleSockets opens n web chat sockets (each says hello and waits), holds
// them, and reports how many were welcomed; measure the gateway's memory
// meanwhile (e.g. VmRSS in /proc/<pid>/status). Every socket after the
// first says hello with the first one's visitor token: a returning visitor
// is not held to GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE.
func idleSockets(base string, n int, hold time.Duration) error {
	u := strings.Replace(strings.Replace(base, "https://", "wss://", 1), "http://", "ws://", 1) + "/chat/ws"
	origin := base
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 256, WriteBufferSize: 256}
	start := time.Now()
	token := ""
	for i := 0; i < n; i++ {
		c, _, err := d.Dial(u, http.Header{"Origin": {origin}})
		if err != nil {
			return fmt.Errorf("socket %d: %w", i, err)
		}
		if err := c.WriteJSON(map[string]string{"type": "hello", "token": token}); err != nil {
			return err
		}
		var w map[string]any
		if err := c.ReadJSON(&w); err != nil || w["type"] != "welcome" {
			return fmt.Errorf("socket %d: no welcome (%v %v)", i, w, err)
		}
		token, _ = w["token"].(string)
		conns = append(conns, c)
	}
	fmt.Printf("%d sockets open and welcomed in %v; holding for %v\n", n, time.Since(start).Round(time.Millisecond), hold)
	time.Sleep(hold)
	return nil
}
