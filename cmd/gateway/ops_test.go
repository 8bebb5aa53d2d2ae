package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
)

func getAt(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// With GATEWAY_OPS_ADDR, /metrics, /readyz and /healthz leave the public
// port for a listener of their own.
func TestOpsListener(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_OPS_ADDR": "127.0.0.1:0"})
	if g.OpsAddr() == "" {
		t.Fatal("no operations listener")
	}
	for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
		if got := get(t, g, path); !strings.HasPrefix(got, "404") {
			t.Errorf("%s on the public port: %.60s, want 404", path, got)
		}
		if got := getAt(t, g.OpsAddr(), path); !strings.HasPrefix(got, "200") {
			t.Errorf("%s on the operations port: %.60s, want 200", path, got)
		}
	}
	if got := getAt(t, g.OpsAddr(), "/metrics"); !strings.Contains(got, "gateway_webhook_requests_total") {
		t.Errorf("metrics on the operations port lack the webhook counter")
	}
}

// /readyz names each check and whether it passes; why one fails (hosts,
// users, addresses in the error text) stays in the log.
func TestReadyzNamesChecksOnly(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_SPOOL": "off"})
	g.embedded.Close()
	g.store.Close()
	got := get(t, g, "/readyz")
	want := `503 {"checks":{"database":"failing","kafka":"failing","workers":"ok"},"status":"unavailable"}`
	if got != want {
		t.Fatalf("readyz with Kafka and the database down:\n got %s\nwant %s", got, want)
	}
}

// Every route that takes a body bounds it: announcing 64 MiB to any POST,
// PUT, PATCH or DELETE route of the whole gateway (every connector enabled,
// an admin token) is refused without the body being read.
func TestEveryRouteBoundsItsBody(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{
		"GATEWAY_API_TOKENS": "admin:adm1n-token", "META_APP_SECRET": "s", "META_VERIFY_TOKEN": "v",
		"SENDGRID_INBOUND_USER": "u", "SENDGRID_INBOUND_PASSWORD": "p", "GATEWAY_CHAT_SECRET": "s",
	})
	seen := 0
	for _, r := range g.app.GetRoutes(true) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		path := strings.NewReplacer(":id", "019a0000-0000-7000-8000-000000000000", "*", "x").Replace(r.Path)
		auth := "Bearer adm1n-token"
		switch {
		case strings.Contains(path, "sendgrid/inbound"):
			auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))
		case strings.HasPrefix(path, "/internal/"):
			auth = "Bearer " + internalKey([]byte("s"))
		}
		c, err := net.Dial("tcp", g.Addr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n{}", r.Method, path, auth, 64<<20)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Errorf("%s %s announcing 64 MiB: %v", r.Method, r.Path, err)
			continue
		}
		if resp.StatusCode == http.StatusNotFound && strings.Contains(path, "sendgrid/events") {
			continue // disabled without SENDGRID_EVENT_PUBLIC_KEY: refused unread
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s announcing 64 MiB: %d, want 413", r.Method, r.Path, resp.StatusCode)
		}
		seen++
	}
	if seen < 10 {
		t.Fatalf("only %d routes that take a body were found", seen)
	}
}

// With GATEWAY_PPROF_ADDR, net/http/pprof answers on a listener of its own
// and never on the public port.
func TestPprofListener(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_PPROF_ADDR": "127.0.0.1:0", "GATEWAY_ROLES": "ingest"})
	if g.PprofAddr() == "" {
		t.Fatal("no pprof listener")
	}
	if got := getAt(t, g.PprofAddr(), "/debug/pprof/"); !strings.HasPrefix(got, "200") || !strings.Contains(got, "goroutine") {
		t.Errorf("/debug/pprof/ on the pprof port: %.80s, want 200 and the profile index", got)
	}
	if got := getAt(t, g.PprofAddr(), "/debug/pprof/goroutine?debug=1"); !strings.HasPrefix(got, "200") {
		t.Errorf("goroutine profile on the pprof port: %.80s, want 200", got)
	}
	if got := get(t, g, "/debug/pprof/"); !strings.HasPrefix(got, "404") {
		t.Errorf("/debug/pprof/ on the public port: %.80s, want 404", got)
	}
}

// With GATEWAY_PPROF=true (the design's switch), the profiles answer on the
// operations listener beside /metrics and never on the public port.
func TestPprofOnOpsListener(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_PPROF": "true", "GATEWAY_OPS_ADDR": "127.0.0.1:0", "GATEWAY_ROLES": "ingest"})
	if got := getAt(t, g.OpsAddr(), "/debug/pprof/"); !strings.HasPrefix(got, "200") || !strings.Contains(got, "goroutine") {
		t.Errorf("/debug/pprof/ on the ops port: %.80s, want 200 and the profile index", got)
	}
	if got := get(t, g, "/debug/pprof/"); !strings.HasPrefix(got, "404") {
		t.Errorf("/debug/pprof/ on the public port: %.80s, want 404", got)
	}
}
