package connectors_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/edge"
)

// countingListener hands out connections that count the write deadlines
// armed on them.
type countingListener struct {
	net.Listener
	writeDeadlines *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writeDeadlines}, nil
}

type countingConn struct {
	net.Conn
	writeDeadlines *atomic.Int64
}

func (c countingConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadlines.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

// TestKeepAliveRequestsShareAWriteDeadline: the server asks for a write
// deadline (WriteTimeout) before every answer; on the listener of the
// gateway (edge.LimitListener) the requests of a keep-alive connection
// arm one per edge.WriteDeadlineSlack, not one each (200 for 200 requests
// before).
func TestKeepAliveRequestsShareAWriteDeadline(t *testing.T) {
	app := connectors.NewApp(connectors.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	connectors.MountOps(app, connectors.OpsConfig{Log: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var armed atomic.Int64
	go func() { _ = app.Listener(edge.LimitListener(countingListener{ln, &armed}, 10, 10)) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(time.Second) })

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	const requests = 200
	start := time.Now()
	for range requests {
		resp, err := client.Get("http://" + ln.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// One per slack that passed, and one more (the slack may have begun
	// just before the first request).
	most := int64(time.Since(start)/edge.WriteDeadlineSlack) + 2
	if n := armed.Load(); n > most {
		t.Fatalf("%d requests on one connection armed %d write deadlines, want at most %d", requests, n, most)
	}
	t.Logf("%d requests, %d write deadlines armed", requests, armed.Load())
}
