package edge

import (
	"net"
	"sync"
	"time"
)

// LimitListener caps the connections ln hands out: at most total open at
// once (0: no cap) and at most perIP from one client network (0: no cap):
// an IPv4 address or an IPv6 /64, see ClientNetwork.
// A connection over a cap is answered 503 (total) or 429 (per address) and
// closed at once, without reaching the HTTP server. Each connection is
// counted once however often it is closed (websockets close theirs too).
// A connection's write deadline is armed up to WriteDeadlineSlack later
// than asked, so that the server, which asks for a new one before every
// answer, does not re-arm its timer for every request of a keep-alive
// connection.
func LimitListener(ln net.Listener, total, perIP int) net.Listener {
	if total <= 0 && perIP <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, total: total, perIP: perIP, byIP: map[string]int{}}
}

type limitListener struct {
	net.Listener
	total, perIP int

	mu   sync.Mutex
	open int
	byIP map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := ClientOf(c.RemoteAddr())
		if refusal := l.admit(ip); refusal != "" {
			go refuse(c, refusal)
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.leave(ip) }}, nil
	}
}

// admit counts a new connection from ip, or says which answer refuses it.
func (l *limitListener) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.open >= l.total {
		return "503 Service Unavailable"
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return "429 Too Many Requests"
	}
	l.open++
	l.byIP[ip]++
	return ""
}

func (l *limitListener) leave(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

func refuse(c net.Conn, status string) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte("HTTP/1.1 " + status + "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
	_ = c.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
	// writeMu orders the deadline calls; writeBy is the write deadline
	// armed on Conn (zero: none).
	writeMu sync.Mutex
	writeBy time.Time
}

// WriteDeadlineSlack is how much later than asked a connection's write
// deadline may end: one asked for within the slack before the armed one
// is already met by it.
const WriteDeadlineSlack = time.Second

// SetWriteDeadline arms t+WriteDeadlineSlack, unless the deadline armed
// already ends between t and t+WriteDeadlineSlack. A zero t (no deadline)
// is passed on.
func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	armed := t
	if !t.IsZero() {
		by := c.writeBy
		if !by.IsZero() && !by.Before(t) && by.Sub(t) <= WriteDeadlineSlack {
			return nil
		}
		armed = t.Add(WriteDeadlineSlack)
	}
	c.writeBy = time.Time{} // unknown until the call returns
	if err := c.Conn.SetWriteDeadline(armed); err != nil {
		return err
	}
	c.writeBy = armed
	return nil
}

// SetDeadline sets both deadlines as asked (t exactly, no slack).
func (c *limitedConn) SetDeadline(t time.Time) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.writeBy = time.Time{}
	if err := c.Conn.SetDeadline(t); err != nil {
		return err
	}
	if !t.IsZero() {
		c.writeBy = t
	}
	return nil
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
