package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// cluster is one broker process and one PostgreSQL database that gateway
// processes of any roles join, as the manifests deploy them: every instance
// shares GATEWAY_CHAT_SECRET, and ingest reaches a core through
// GATEWAY_CORE_URL.
type cluster struct {
	broker string
	env    map[string]string
}

func newCluster(t *testing.T, extra map[string]string) *cluster {
	t.Helper()
	db := sqltest.URL(t, sqlstore.Postgres) // skips without PostgreSQL (fails in CI)
	broker := startBrokerProcess(t)
	env := map[string]string{"KAFKA_BROKERS": broker, "KAFKA_REPLICATION_FACTOR": "1",
		"DATABASE_URL": db, "GATEWAY_CHAT_SECRET": "a-secret-every-instance-shares"}
	for k, v := range extra {
		env[k] = v
	}
	return &cluster{broker: broker, env: env}
}

// startBrokerProcess runs the embedded broker in a process of its own (the
// test binary, see TestMain) and returns its address once it takes
// connections; it is stopped when the test ends.
func startBrokerProcess(t *testing.T) string {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{runBrokerEnv + "=" + addr, runBrokerDirEnv + "=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		select {
		case <-done:
			t.Fatalf("the broker process exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker process did not listen within 20s: %s", out.String())
		}
	}
}

// start runs a gateway process of the given role in the cluster.
func (c *cluster) start(t *testing.T, role string, more map[string]string) *childGateway {
	t.Helper()
	env := map[string]string{"GATEWAY_ROLES": role}
	for _, m := range []map[string]string{c.env, more} {
		for k, v := range m {
			env[k] = v
		}
	}
	g := startChild(t, sqlstore.SQLite, env)
	g.view.brokers = []string{c.broker}
	return g
}

// splitRoles runs ingest, core and outbox as processes of their own.
func splitRoles(t *testing.T, extra map[string]string) (ingest, core, outbox *childGateway) {
	t.Helper()
	c := newCluster(t, extra)
	core = c.start(t, "core", nil)
	outbox = c.start(t, "outbox", nil)
	ingest = c.start(t, "ingest", map[string]string{"GATEWAY_CORE_URL": "http://" + core.view.Addr()})
	return ingest, core, outbox
}

// With the roles in processes of their own, a visitor whose socket is on an
// ingest-only instance gets their history and the reply sent while they were
// away when they come back (through the core's internal API).
func TestChatHistoryOnIngestOnlyInstance(t *testing.T) {
	ingest, core, _ := splitRoles(t, map[string]string{"GATEWAY_API_TOKENS": "admin:ops-token"})
	ws := chatDial(t, ingest.view)
	w := chatFrame(t, ws, map[string]any{"type": "hello"})
	if ack := chatFrame(t, ws, map[string]any{"type": "message", "client_id": "c1", "text": "anyone there?"}); ack["type"] != "ack" {
		t.Fatalf("ack %v", ack)
	}
	ws.Close()
	evs := consume(t, core.view, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
	if s, b := post(t, core.view, "/v1/conversations/"+conv+"/messages", []byte(`{"text":"Yes, here!"}`),
		map[string]string{"Authorization": "Bearer ops-token", "X-Agent": "ann", "Content-Type": "application/json"}); s != http.StatusAccepted {
		t.Fatalf("reply: %d %s", s, b)
	}
	consume(t, core.view, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 1 })

	back := chatDial(t, ingest.view)
	defer back.Close()
	chatFrame(t, back, map[string]any{"type": "hello", "token": w["token"]})
	h := chatFrame(t, back, nil)
	if h["type"] != "history" {
		t.Fatalf("on reconnect to the ingest-only instance, the first frame: %v", h)
	}
	msgs := h["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["text"] != "anyone there?" || msgs[1].(map[string]any)["author"] != "ann" {
		t.Fatalf("history: %v", msgs)
	}
	reply := chatFrame(t, back, nil)
	if reply["type"] != "message" || reply["text"] != "Yes, here!" {
		t.Fatalf("the pending reply on reconnect: %v", reply)
	}
	if err := back.WriteJSON(map[string]any{"type": "received", "message_id": reply["message_id"]}); err != nil {
		t.Fatal(err)
	}
	consume(t, core.view, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
}

// The core's internal route answers only the key derived from the shared
// chat secret.
func TestCoreInternalRouteNeedsTheKey(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_CHAT_SECRET": "s3cret"})
	for key, want := range map[string]int{"": http.StatusUnauthorized, "wrong": http.StatusUnauthorized,
		internalKey([]byte("s3cret")): http.StatusOK} {
		s, b := post(t, g, chatReturningPath, []byte(`{"address":"v1"}`),
			map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"})
		if s != want {
			t.Errorf("key %q: %d %s, want %d", key, s, b, want)
		}
	}
}
