package connectors_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/kafkabus"
)

// nopPublisher accepts every record.
type nopPublisher struct{}

func (nopPublisher) Produce(context.Context, ...kafkabus.Record) error { return nil }

// hostileServer serves one webhook route of 1 MiB, one of 32 MiB (like
// Inbound Parse) and an API-like route behind LimitBody, on a real listener.
func hostileServer(t *testing.T, maxConnsPerIP int) (addr string, reg *prometheus.Registry) {
	t.Helper()
	var cfg connectors.Config
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	app := connectors.NewApp(cfg)
	reg = prometheus.NewRegistry()
	wh := connectors.NewIngest(nopPublisher{}, kafkabus.Topics{Prefix: "t."}, "", cfg.Log, reg)
	accept := webhook.HandlerFunc(func(context.Context, *webhook.Request) (webhook.Result, error) {
		return webhook.Result{Body: []byte("ok")}, nil
	})
	wh.Mount(app,
		connectors.Route{Name: "small", Path: "/webhooks/small", Methods: []string{fiber.MethodPost}, Handler: accept},
		connectors.Route{Name: "big", Path: "/webhooks/big", Methods: []string{fiber.MethodPost}, Handler: accept, MaxBody: 32 << 20},
	)
	app.Post("/v1/things", edge.LimitBody(1<<20), func(c *fiber.Ctx) error {
		return c.SendString(fmt.Sprint(len(c.Body())))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(edge.LimitListener(ln, 0, maxConnsPerIP)) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(time.Second) })
	return ln.Addr().String(), reg
}

// allocated runs fn and returns the bytes the whole process allocated meanwhile.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bomb is a body of a few kilobytes that inflates to size bytes through
// two layers of gzip.
func bomb(t *testing.T, size int) []byte {
	t.Helper()
	var inner bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&inner, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for i := 0; i < size>>20; i++ {
		_, _ = zw.Write(zero)
	}
	_ = zw.Close()
	var outer bytes.Buffer
	zw, _ = gzip.NewWriterLevel(&outer, gzip.BestCompression)
	_, _ = zw.Write(inner.Bytes())
	_ = zw.Close()
	return outer.Bytes()
}

func post(t *testing.T, addr, path string, body io.Reader, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A compressed body is refused before anything inflates it: two layers of
// gzip that inflate to 256 MiB used to be inflated (2 GB for a 2 KB body
// in the report) before the route's limit was checked.
func TestCompressionBombRefused(t *testing.T) {
	addr, reg := hostileServer(t, 0)
	body := bomb(t, 256<<20)
	cases := map[string][]string{
		"webhook gzip, gzip":             {"/webhooks/small", "Content-Encoding", "gzip, gzip"},
		"webhook second header":          {"/webhooks/small", "Content-Encoding", "identity", "Content-Encoding", "gzip"},
		"webhook deflate":                {"/webhooks/big", "Content-Encoding", "deflate"},
		"api second header wins nothing": {"/v1/things", "Content-Encoding", "identity", "Content-Encoding", "gzip"},
		"api br":                         {"/v1/things", "Content-Encoding", "br"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var status int
			var answer string
			n := allocated(func() { status, answer = post(t, addr, c[0], bytes.NewReader(body), c[1:]...) })
			if status != fiber.StatusUnsupportedMediaType || !strings.Contains(answer, "unsupported_media_type") {
				t.Fatalf("status %d %s, want 415 unsupported_media_type", status, answer)
			}
			if n > 32<<20 {
				t.Fatalf("refusing a %d-byte compressed body allocated %d MiB", len(body), n>>20)
			}
		})
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "small", "encoded")); got != 2 {
		t.Fatalf("encoded outcome counted %v times on the small route, want 2", got)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, connector, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gateway_webhook_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["connector"] == connector && labels["outcome"] == outcome {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return 0 })
}

// Clients that announce a large body and send one byte cost what they
// sent, not what they announced: 64 connections announcing 32 MiB each used
// to reserve 2 GB for the 30 s read timeout.
func TestAnnouncedBodiesAreNotReserved(t *testing.T) {
	addr, _ := hostileServer(t, 0)
	const conns = 64
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	n := allocated(func() {
		for i := 0; i < conns; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			fmt.Fprintf(c, "POST /webhooks/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nx", 32<<20-1)
		}
		time.Sleep(500 * time.Millisecond) // the server has read every header
	})
	if n > 64<<20 {
		t.Fatalf("%d connections announcing 32 MiB bodies made the server allocate %d MiB", conns, n>>20)
	}
	// Over a route's limit: refused once the first few kilobytes are in,
	// not after the 2 MiB announced.
	resp := rawPost(t, addr, "/webhooks/small", fmt.Sprintf("Content-Length: %d", 2<<20), bytes.Repeat([]byte("a"), 16<<10))
	if resp.StatusCode != fiber.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("announced 2 MiB on a 1 MiB route: status %d close %v, want 413 and the connection closed", resp.StatusCode, resp.Close)
	}
}

// rawPost writes a request by hand and reads the answer while the body is
// still being written (the server may answer before reading all of it).
func rawPost(t *testing.T, addr, path, header string, body []byte) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", path, header)
		_, _ = c.Write(body)
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// A chunked body (no Content-Length) is cut at the route's limit while it
// is read.
func TestChunkedBodyCutAtLimit(t *testing.T) {
	addr, _ := hostileServer(t, 0)
	var chunked bytes.Buffer
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	for i := 0; i < 64; i++ { // 4 MiB
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	chunked.WriteString("0\r\n\r\n")
	resp := rawPost(t, addr, "/webhooks/small", "Transfer-Encoding: chunked", chunked.Bytes())
	if resp.StatusCode != fiber.StatusRequestEntityTooLarge {
		t.Fatalf("a 4 MiB chunked body on a 1 MiB route: status %d, want 413", resp.StatusCode)
	}
	if status, answer := post(t, addr, "/v1/things", strings.NewReader(strings.Repeat("b", 1000))); status != 200 || answer != "1000" {
		t.Fatalf("a body within the limit: %d %q", status, answer)
	}
}

// Request headers are bounded: 431 beyond 8 KiB.
func TestHeadersBounded(t *testing.T) {
	addr, _ := hostileServer(t, 0)
	status, _ := post(t, addr, "/webhooks/small", strings.NewReader("x"), "X-Filler", strings.Repeat("f", 16<<10))
	if status != fiber.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("16 KiB of headers: status %d, want 431", status)
	}
}

// One client cannot hold more than GATEWAY_MAX_CONNS_PER_IP connections.
func TestConnectionsPerIPCapped(t *testing.T) {
	addr, _ := hostileServer(t, 3)
	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	statuses := []int{}
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		held = append(held, c)
		mu.Unlock()
		fmt.Fprintf(c, "POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			statuses = append(statuses, 0)
			continue
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	if fmt.Sprint(statuses) != "[200 200 200 429]" {
		t.Fatalf("four connections from one address with a cap of 3: %v, want [200 200 200 429]", statuses)
	}
}

// An encoded body is refused whatever the case of the header's name and
// however many Content-Encoding headers there are.
func TestEncodedRefusedWhateverTheHeaderCase(t *testing.T) {
	addr, _ := hostileServer(t, 0)
	cases := map[string]int{
		"content-encoding: gzip":                             fiber.StatusUnsupportedMediaType,
		"CONTENT-ENCODING: br":                               fiber.StatusUnsupportedMediaType,
		"cOnTeNt-EnCoDiNg: deflate":                          fiber.StatusUnsupportedMediaType,
		"Content-Encoding: identity\r\ncontent-encoding: br": fiber.StatusUnsupportedMediaType,
		"content-encoding: identity\r\nContent-Encoding: x":  fiber.StatusUnsupportedMediaType,
		"Content-Encoding: identity , gzip":                  fiber.StatusUnsupportedMediaType,
		"content-encoding: identity\r\nContent-Encoding: , ": fiber.StatusOK,
		"CONTENT-ENCODING: IDENTITY":                         fiber.StatusOK,
	}
	for header, want := range cases {
		resp := rawPost(t, addr, "/webhooks/small", header+"\r\nContent-Length: 1", []byte("x"))
		if resp.StatusCode != want {
			t.Errorf("%q: status %d, want %d", header, resp.StatusCode, want)
		}
	}
}
