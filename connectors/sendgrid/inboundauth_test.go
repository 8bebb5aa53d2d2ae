package sendgrid_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/core/kafkabus"
)

type nopPublisher struct{}

func (nopPublisher) Produce(context.Context, ...kafkabus.Record) error { return nil }

// inboundServer serves the SendGrid connector's routes (Inbound Parse with
// parse:s3cret) as the gateway mounts them, on a real listener.
func inboundServer(t *testing.T) (addr string, reg *prometheus.Registry) {
	t.Helper()
	conn, err := sendgrid.New(sendgrid.Settings{InboundUser: "parse", InboundPassword: "s3cret"}, connector.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := connectors.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	app := connectors.NewApp(cfg)
	reg = prometheus.NewRegistry()
	connectors.NewIngest(nopPublisher{}, kafkabus.Topics{Prefix: "t."}, "", cfg.Log, reg).Mount(app, conn.Routes...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(time.Second) })
	return ln.Addr().String(), reg
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// announce writes the headers of an Inbound Parse upload announcing size
// bytes, and nothing of its body.
func announce(t *testing.T, addr string, size int, extra string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /webhooks/sendgrid/inbound HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xYzZY\r\n"+
		"Content-Length: %d\r\n%s\r\n", size, extra)
	return c, bufio.NewReader(c)
}

// answer reads an answer; the deadline only keeps a server that waits for
// the rest of the body from hanging the test.
func answer(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	resp.Body.Close()
	return resp
}

// Inbound Parse's basic auth is checked from the headers, before the body
// is read: an upload announcing 32 MiB with wrong or missing credentials is
// answered 401 (with the challenge, the connection closed) while the
// client has sent only its headers and the first two bytes of its body
// (the server hands a request to its route once the body's first bytes
// are in), with or without Expect: 100-continue. The right credentials
// still reach the parser.
func TestInboundAuthBeforeBody(t *testing.T) {
	addr, reg := inboundServer(t)
	cases := map[string]string{
		"wrong password": "Authorization: " + basic("parse", "wrong") + "\r\n",
		"wrong user":     "Authorization: " + basic("other", "s3cret") + "\r\n",
		"no credentials": "",
		"bearer token":   "Authorization: Bearer s3cret\r\n",
		"100-continue":   "Authorization: " + basic("parse", "wrong") + "\r\nExpect: 100-continue\r\n",
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			c, br := announce(t, addr, 32<<20-1024, hdr)
			if strings.Contains(hdr, "100-continue") {
				if resp := answer(t, c, br); resp.StatusCode != http.StatusContinue {
					t.Fatalf("status %d, want 100 Continue", resp.StatusCode)
				}
			}
			if _, err := c.Write([]byte("--")); err != nil {
				t.Fatal(err)
			}
			resp := answer(t, c, br)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") || !resp.Close {
				t.Fatalf("status %d, WWW-Authenticate %q, close %v: want 401 with a Basic challenge, connection closed",
					resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Close)
			}
		})
	}
	if got := counted(t, reg, "unauthorized"); got != float64(len(cases)) {
		t.Errorf("unauthorized outcome counted %v times, want %d", got, len(cases))
	}
	body, err := os.ReadFile(filepath.Join("testdata", "inbound_attachment.txt"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/sendgrid/inbound", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=xYzZY")
	req.Header.Set("Authorization", basic("parse", "s3cret"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the right credentials: status %d, want 200", resp.StatusCode)
	}
}

// Ten concurrent 32 MiB uploads with a wrong password cost the gateway
// almost nothing: each is refused from its headers, so no body is read or
// copied (they used to take the process from 51 MB to 558 MB, each
// answered only after its last byte).
func TestInboundWrongPasswordUploadsAreNotRead(t *testing.T) {
	addr, _ := inboundServer(t)
	const uploads, size = 10, 32<<20 - 1024
	chunk := make([]byte, 32<<10) // one buffer every client sends from
	var wg sync.WaitGroup
	statuses := make([]int, uploads)
	n := allocated(func() {
		for i := 0; i < uploads; i++ {
			c, br := announce(t, addr, size, "Authorization: "+basic("parse", "wrong")+"\r\n")
			wg.Add(2)
			go func() { // the body, sent until the server stops taking it
				defer wg.Done()
				for sent := 0; sent < size; sent += len(chunk) {
					if _, err := c.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
						return
					}
				}
			}()
			go func(i int) {
				defer wg.Done()
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if resp, err := http.ReadResponse(br, nil); err == nil {
					statuses[i] = resp.StatusCode
					resp.Body.Close()
				}
				c.Close()
			}(i)
		}
		wg.Wait()
	})
	for i, s := range statuses {
		if s != http.StatusUnauthorized {
			t.Errorf("upload %d: status %d, want 401", i, s)
		}
	}
	t.Logf("%d uploads: %d KiB allocated", uploads, n>>10)
	if n > 8<<20 {
		t.Fatalf("%d wrong-password uploads of %d MiB made the process allocate %d MiB", uploads, size>>20, n>>20)
	}
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

// counted is the inbound route's count of an outcome.
func counted(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
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
			if labels["connector"] == "sendgrid_inbound" && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
