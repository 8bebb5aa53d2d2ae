package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opengateway/gateway/connectors/twilio"
)

// subcommands are the modes of loadgen named by its first argument; without
// one it sends webhooks (main).
var subcommands = map[string]func(args []string) error{"fill": fill, "read": readBench}

// fillAgents are the agents the fill assigns conversations to; the read
// benchmark reads as ann.
var fillAgents = []string{"ann", "bob", "cid", "dee", "eve"}

// fillPhone is the phone number of the fill's customer i (distinct from the
// numbers main sends from).
func fillPhone(i int) string { return fmt.Sprintf("+1416%07d", i) }

// fill fills a gateway's database through the real path: signed Twilio SMS
// webhooks from -conversations customers, -messages in all (customer i
// sends messages i, i+C, i+2C, ...), then operator state through the API on
// every -every'th conversation: assigned to an agent, some replied, some
// closed, some visible to one agent only.
//
//	loadgen fill -url http://127.0.0.1:18082 -token T -admin A -conversations 300000 -messages 1000000
func fill(args []string) error {
	fs := flag.NewFlagSet("fill", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "gateway base URL")
	public := fs.String("public", "", "GATEWAY_PUBLIC_URL of the gateway (default: -url)")
	token := fs.String("token", os.Getenv("TWILIO_AUTH_TOKEN"), "Twilio auth token")
	admin := fs.String("admin", "", "admin API token (operator state)")
	convs := fs.Int("conversations", 300000, "customers, each with one conversation")
	msgs := fs.Int("messages", 1000000, "inbound messages in all")
	from := fs.Int("from", 0, "first message to send (resume a fill)")
	conns := fs.Int("conns", 32, "connections")
	every := fs.Int("every", 3, "operator state on every N-th conversation (0: none)")
	twilioAddr := fs.String("fake-twilio", "", "listen here as the Twilio API the gateway sends replies to (TWILIO_API_URL)")
	fs.Parse(args)
	if *public == "" {
		*public = *base
	}
	if *twilioAddr != "" {
		go http.ListenAndServe(*twilioAddr, http.HandlerFunc(fakeTwilio))
	}
	ctx := context.Background()
	client := httpClient(*conns)
	start := time.Now()
	var errs atomic.Int64
	parallel(ctx, *conns, *from, *msgs, func(n int) {
		if err := sendSMS(client, *base, *public, *token, fillPhone(n%*convs), fmt.Sprintf("fill %d", n)); err != nil {
			if errs.Add(1) < 10 {
				fmt.Fprintln(os.Stderr, err)
			}
		}
		if n%50000 == 0 {
			fmt.Printf("%s: message %d, %.0f/s, %d errors\n", time.Now().Format(time.TimeOnly), n,
				float64(n-*from)/time.Since(start).Seconds(), errs.Load())
		}
	})
	fmt.Printf("messages %d..%d sent in %v, %d errors\n", *from, *msgs, time.Since(start).Round(time.Second), errs.Load())
	if *every > 0 && *admin != "" {
		return operatorState(ctx, client, *base, *admin, *convs, *every, *conns)
	}
	return nil
}

// parallel calls do(n) for n in [from, to) on conns goroutines.
func parallel(ctx context.Context, conns, from, to int, do func(n int)) {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := int(next.Add(1) - 1)
				if n >= to {
					return
				}
				do(n)
			}
		}()
	}
	wg.Wait()
}

func httpClient(conns int) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

// sendSMS posts one signed Twilio SMS webhook.
func sendSMS(client *http.Client, base, public, token, phone, text string) error {
	const path = "/webhooks/twilio/messaging"
	form := url.Values{
		"MessageSid": {fmt.Sprintf("SMfill%026d", time.Now().UnixNano())}, "AccountSid": {"ACloadgen"},
		"From": {phone}, "To": {"+15558675310"}, "Body": {text}, "NumMedia": {"0"}, "ApiVersion": {"2010-04-01"},
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilio.Sign(token, public+path, form))
	_, err := do(client, req, http.StatusOK)
	return err
}

// do sends req and reads the answer, an error unless its status is want
// (0: any 2xx).
func do(client *http.Client, req *http.Request, want int) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if bad := resp.StatusCode != want && (want != 0 || resp.StatusCode/100 != 2); err == nil && bad {
		err = fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, err
}

// api calls the operator API with token; body nil for no body.
func api(client *http.Client, base, token, method, path string, body any, want int) ([]byte, error) {
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+"/v1"+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(client, req, want)
}

// fakeTwilio answers the gateway's sends as the Twilio Messages API does.
func fakeTwilio(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid":"SMfake%026d","status":"queued"}`, time.Now().UnixNano())
}

// firstArg is loadgen's first argument, "" without one.
func firstArg() string {
	if len(os.Args) < 2 {
		return ""
	}
	return os.Args[1]
}
