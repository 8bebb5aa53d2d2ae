package edge

import (
	"net"
	"sync"
	"testing"
	"time"
)

// deadlineConn records the write deadlines armed on it.
type deadlineConn struct {
	net.Conn
	mu    sync.Mutex
	armed []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = append(c.armed, t)
	return nil
}

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

func (c *deadlineConn) calls() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.armed...)
}

// TestWriteDeadlineArmedOncePerSlack: the server asks for a write deadline
// before every answer; asked again and again within the slack, the
// connection arms one, which ends no earlier than any of them asked and at
// most the slack after.
func TestWriteDeadlineArmedOncePerSlack(t *testing.T) {
	under := &deadlineConn{}
	c := &limitedConn{Conn: under}
	now := time.Now()
	for i := range 1000 {
		asked := now.Add(30*time.Second + time.Duration(i)*time.Microsecond)
		if err := c.SetWriteDeadline(asked); err != nil {
			t.Fatal(err)
		}
		armed := under.calls()
		if last := armed[len(armed)-1]; last.Before(asked) || last.Sub(asked) > WriteDeadlineSlack {
			t.Fatalf("asked %v, armed %v", asked, last)
		}
	}
	if n := len(under.calls()); n != 1 {
		t.Fatalf("1,000 write deadlines within the slack armed %d times, want 1", n)
	}
}

// TestWriteDeadlineArmedWhenItMatters: a deadline earlier than the armed
// one, or later than it, is armed; no deadline is passed on as it is, and
// so is SetDeadline.
func TestWriteDeadlineArmedWhenItMatters(t *testing.T) {
	under := &deadlineConn{}
	c := &limitedConn{Conn: under}
	now := time.Now()
	steps := []struct {
		asked time.Time
		arms  bool
	}{
		{now.Add(30 * time.Second), true},
		{now.Add(30*time.Second + WriteDeadlineSlack/2), false},
		{now.Add(time.Second), true},     // earlier: a handler's own, shorter deadline
		{now.Add(time.Second), false},    // the same again
		{now.Add(3 * time.Second), true}, // later than armed
		{time.Time{}, true},              // none
		{now.Add(3 * time.Second), true}, // after none
		{now.Add(3*time.Second + time.Nanosecond), false},
	}
	for i, s := range steps {
		before := len(under.calls())
		if err := c.SetWriteDeadline(s.asked); err != nil {
			t.Fatal(err)
		}
		armed := under.calls()
		if arms := len(armed) > before; arms != s.arms {
			t.Fatalf("step %d (%v): armed %v, want %v", i, s.asked, arms, s.arms)
		}
		last := armed[len(armed)-1]
		if s.asked.IsZero() != last.IsZero() || last.Before(s.asked) || last.Sub(s.asked) > WriteDeadlineSlack {
			t.Fatalf("step %d: asked %v, armed %v", i, s.asked, last)
		}
	}
	exact := now.Add(time.Minute)
	if err := c.SetDeadline(exact); err != nil {
		t.Fatal(err)
	}
	if armed := under.calls(); !armed[len(armed)-1].Equal(exact) {
		t.Fatalf("SetDeadline(%v) armed %v", exact, armed[len(armed)-1])
	}
	if err := c.SetWriteDeadline(exact.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if armed := under.calls(); !armed[len(armed)-1].Equal(exact.Add(-time.Second).Add(WriteDeadlineSlack)) {
		t.Fatalf("a write deadline earlier than SetDeadline's: armed %v", armed[len(armed)-1])
	}
}
