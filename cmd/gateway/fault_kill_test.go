package main

import (
	"flag"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

var faultLong = flag.Bool("fault.long", false, "run the fault suite's long versions (also GATEWAY_TEST_FAULT_LONG=1)")

// faultTime is how long a fault or its load lasts: d, or ten times d for
// the long versions.
func faultTime(d time.Duration) time.Duration {
	if faultLongRun() {
		return 10 * d
	}
	return d
}

func faultLongRun() bool { return *faultLong || os.Getenv("GATEWAY_TEST_FAULT_LONG") == "1" }

// childGateway is the gateway run as a process of its own (the test binary
// calling main, see TestMain), on fixed ports and one data dir so that it
// can be killed and started again as the same gateway.
type childGateway struct {
	t    *testing.T
	env  map[string]string
	cmd  *exec.Cmd
	done chan struct{}
	out  *lockedBuffer
	// view is a Gateway value holding only what the test helpers read
	// (address, brokers, configuration), for load and accounting.
	view *Gateway
}

// addrListener is a listener that only tells its address.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (a addrListener) Addr() net.Addr { return a.addr }

func startChild(t *testing.T, dialect string, extra map[string]string) *childGateway {
	t.Helper()
	env, cfg := testConfig(t, dialect, map[string]string{"GATEWAY_HTTP_ADDR": freePort(t),
		"GATEWAY_EMBEDDED_KAFKA_ADDR": freePort(t), "GATEWAY_DATA_DIR": t.TempDir()}, extra)
	addr, err := net.ResolveTCPAddr("tcp", env["GATEWAY_HTTP_ADDR"])
	if err != nil {
		t.Fatal(err)
	}
	c := &childGateway{t: t, env: env, out: &lockedBuffer{}}
	c.view = &Gateway{cfg: cfg, brokers: []string{env["GATEWAY_EMBEDDED_KAFKA_ADDR"]}, ln: addrListener{addr: addr}}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("gateway output:\n%s", c.out.String())
		}
	})
	c.start()
	return c
}

// start runs the gateway and waits until /readyz answers 200.
func (c *childGateway) start() {
	c.t.Helper()
	c.cmd = exec.Command(os.Args[0])
	c.cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH")}
	for k, v := range c.env {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(c.cmd, c.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-c.done:
			c.t.Fatalf("the gateway exited while starting: %v\n%s", c.cmd.ProcessState, c.out.String())
		default:
		}
		if readyAt(c.env["GATEWAY_HTTP_ADDR"]) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the gateway was not ready within 30s:\n%s", c.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *childGateway) kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func readyAt(addr string) bool {
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// The gateway is SIGKILLed under load and started again on its data dir
// and ports: every webhook answered 200 before the kill or after the
// restart is on events.v1 under one event id (an event the relay had
// published when the kill came may be published again: delivery is at
// least once); a request the kill cut may be there.
func TestFaultSIGKILLUnderLoad(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			c := startChild(t, dialect, nil)
			l := startLoad(c.view, 4, 0)
			time.Sleep(faultTime(time.Second))
			c.kill()
			l.mu.Lock()
			killedAt := len(l.ok)
			l.mu.Unlock()
			c.start()
			time.Sleep(faultTime(time.Second))
			l.halt()
			t.Logf("answered 200: %d (%d before the kill), otherwise: %d", len(l.ok), killedAt, len(l.other))
			if killedAt < 20 || len(l.ok)-killedAt < 20 {
				t.Fatalf("only %d webhooks answered 200 before the kill and %d after", killedAt, len(l.ok)-killedAt)
			}
			checkDelivered(t, c.view, l.ok, l.other...)
		})
	}
}
