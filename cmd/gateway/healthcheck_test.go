package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// runHealthcheck runs `gateway healthcheck` as a process of its own, the
// way a container's HEALTHCHECK does, with env as its whole environment.
// It returns the exit code and what the process printed.
func runHealthcheck(t *testing.T, env map[string]string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "healthcheck")
	cmd.Env = []string{runMainEnv + "=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	default:
		t.Fatal(err)
		return -1, ""
	}
}

// `gateway healthcheck` exits 0 while the gateway's /readyz answers 200,
// and 1 with a one-line reason once it answers 503 or nobody listens. It
// asks the operations listener when GATEWAY_OPS_ADDR is set, else
// GATEWAY_HTTP_ADDR on loopback (":PORT" names no host).
func TestHealthcheck(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{"GATEWAY_SPOOL": "off"})
			_, port, _ := net.SplitHostPort(g.Addr())
			public := map[string]string{"GATEWAY_HTTP_ADDR": ":" + port}
			if code, out := runHealthcheck(t, public); code != 0 || !strings.Contains(out, "/readyz: 200") {
				t.Fatalf("a ready gateway: exit %d, %q; want 0", code, out)
			}

			ops := startGateway(t, dialect, map[string]string{"GATEWAY_OPS_ADDR": "127.0.0.1:0"})
			opsEnv := map[string]string{"GATEWAY_HTTP_ADDR": "127.0.0.1:1", "GATEWAY_OPS_ADDR": ops.OpsAddr()}
			if code, out := runHealthcheck(t, opsEnv); code != 0 {
				t.Fatalf("a ready gateway's operations listener: exit %d, %q; want 0", code, out)
			}

			g.store.Close()
			code, out := runHealthcheck(t, public)
			if code != 1 || !strings.Contains(out, "503") || !strings.Contains(out, `"database":"failing"`) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Fatalf("an unready gateway: exit %d, %q; want 1 and one line naming the failing check", code, out)
			}

			ops.Close()
			if code, out := runHealthcheck(t, opsEnv); code != 1 || !strings.Contains(out, "connection refused") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Fatalf("a stopped gateway: exit %d, %q; want 1 and one line saying why", code, out)
			}
		})
	}
}

// Listen addresses without a host, or with an unspecified one, are dialled
// on loopback; a named host is dialled as given.
func TestHealthcheckAddress(t *testing.T) {
	for in, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:9090": "127.0.0.1:9090", "[::]:9090": "[::1]:9090",
		"10.0.0.7:8080": "10.0.0.7:8080", "gw.internal:8080": "gw.internal:8080",
	} {
		if got := loopback(in); got != want {
			t.Errorf("loopback(%q) = %q, want %q", in, got, want)
		}
	}
}
