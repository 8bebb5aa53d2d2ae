package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/opengateway/gateway/config"
)

// healthcheckTimeout bounds the whole check: a gateway that does not answer
// within it is as unhealthy as one that answers 503.
const healthcheckTimeout = 3 * time.Second

// healthcheck asks this machine's gateway whether it is ready, for a
// container's HEALTHCHECK (the image has no shell and no curl): GET /readyz
// on GATEWAY_OPS_ADDR when set, else on GATEWAY_HTTP_ADDR, on loopback when
// the address names no host. nil when it answers 200; otherwise an error of
// one line saying why, and the process exits 1.
func healthcheck(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	addr := cfg.HTTPAddr
	if cfg.OpsAddr != "" {
		addr = cfg.OpsAddr
	}
	u := "http://" + loopback(addr) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %d %s", u, resp.StatusCode, oneLine(body))
	}
	fmt.Fprintf(stdout, "ok: GET %s: %d %s\n", u, resp.StatusCode, oneLine(body))
	return nil
}

// loopback turns a listen address into one to dial on this machine: no host
// or an unspecified one (":8080", "0.0.0.0:8080", "[::]:8080") is loopback.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// oneLine keeps a response body on one line of the container's health log.
func oneLine(b []byte) string {
	return strings.Join(strings.Fields(string(b)), " ")
}
