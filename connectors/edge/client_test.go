package edge

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestClientNetwork(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"203.0.113.7:51234", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"[::ffff:203.0.113.7]:443", "203.0.113.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::1]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:80", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"::1", "::/64"},
		{"127.0.0.1", "127.0.0.1"},
		{"pipe", "pipe"},
		{"", ""},
	} {
		if got := ClientNetworkOf(tc.addr); got != tc.want {
			t.Errorf("ClientNetworkOf(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	tcp := &net.TCPAddr{IP: net.ParseIP("2001:db8::99"), Port: 4000}
	if got := ClientOf(tcp); got != "2001:db8::/64" {
		t.Errorf("ClientOf(%v) = %q", tcp, got)
	}
	if got := ClientOf(&net.TCPAddr{IP: net.ParseIP("198.51.100.1").To16(), Port: 1}); got != "198.51.100.1" {
		t.Errorf("ClientOf of a 16-byte IPv4 = %q", got)
	}
}

// fakeListener hands out the connections it is given.
type fakeListener struct{ conns chan net.Conn }

func (l fakeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l fakeListener) Close() error   { return nil }
func (l fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// fromConn is a connection from a given remote address.
type fromConn struct {
	net.Conn
	remote net.Addr
}

func (c fromConn) RemoteAddr() net.Addr { return c.remote }

// Connections from distinct addresses of one IPv6 /64 are one client: with
// a cap of 3 per client, the fourth is refused with 429; another /64 and an
// IPv4 client are not.
func TestListenerCountsIPv6By64(t *testing.T) {
	in := make(chan net.Conn)
	t.Cleanup(func() { close(in) })
	ln := LimitListener(fakeListener{in}, 0, 3)
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	// dial hands the listener a connection from ip: accepted, or the
	// answer it was refused with.
	dial := func(ip string) (bool, string) {
		server, client := net.Pipe()
		t.Cleanup(func() { server.Close(); client.Close() })
		in <- fromConn{Conn: server, remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234}}
		answer := make(chan string, 1)
		go func() {
			if resp, err := http.ReadResponse(bufio.NewReader(client), nil); err == nil {
				resp.Body.Close()
				answer <- resp.Status
			}
		}()
		select {
		case <-accepted:
			return true, ""
		case a := <-answer:
			return false, a
		case <-time.After(5 * time.Second):
			t.Fatalf("connection from %s neither accepted nor answered", ip)
			return false, ""
		}
	}
	for i := 1; i <= 3; i++ {
		if ok, answer := dial(fmt.Sprintf("2001:db8:1:2::%x", i*0x1111)); !ok {
			t.Fatalf("connection %d of the /64 refused: %s", i, answer)
		}
	}
	if ok, answer := dial("2001:db8:1:2:ffff::1"); ok || !strings.HasPrefix(answer, "429") {
		t.Fatalf("fourth address of one /64: accepted %v %q, want 429", ok, answer)
	}
	if ok, answer := dial("2001:db8:1:3::1"); !ok {
		t.Fatalf("another /64 refused: %s", answer)
	}
	if ok, answer := dial("::ffff:192.0.2.1"); !ok {
		t.Fatalf("an IPv4 client refused: %s", answer)
	}
}

// testClock is a clock tests move by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// A client network gets n events a window; its allowance refills evenly;
// addresses of one /64 share it.
func TestRateLimiter(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(10, time.Minute, 0)
	l.now = clock.now
	client := func(i int) string {
		return ClientNetwork(netip.MustParseAddr(fmt.Sprintf("2001:db8:7:7:%x::%x", i, i)))
	}
	allowed := 0
	for i := range 30 {
		if l.Allow(client(i)) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("30 events from 30 addresses of one /64: %d allowed, want 10", allowed)
	}
	if !l.Allow("2001:db8:7:8::/64") || !l.Allow("192.0.2.1") {
		t.Fatal("other clients were limited too")
	}
	clock.t = clock.t.Add(6 * time.Second) // a tenth of the window: one event
	if !l.Allow(client(99)) || l.Allow(client(100)) {
		t.Fatal("after a tenth of the window: want exactly one more event")
	}
	clock.t = clock.t.Add(time.Hour)
	if l.Allow("192.0.2.9"); l.Clients() != 1 {
		t.Fatalf("an hour later %d clients remembered, want only the one just seen", l.Clients())
	}
}

// A client rotating addresses cannot grow the limiter past maxClients.
func TestRateLimiterBounded(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(1, time.Minute, 1000)
	l.now = clock.now
	if !l.Allow("198.51.100.1") {
		t.Fatal("the first event of a client refused")
	}
	for i := range 100_000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if !l.Allow(ClientNetwork(ip)) {
			t.Fatalf("a new address %v limited", ip)
		}
		if i%10 == 0 {
			l.Allow("198.51.100.1")
		}
	}
	if n := l.Clients(); n > 1000 {
		t.Fatalf("%d clients remembered, want at most 1000", n)
	}
	// The client seen throughout stays remembered (and limited).
	if l.Allow("198.51.100.1") {
		t.Fatal("a client seen all along was forgotten")
	}
}

func FuzzClientNetworkOf(f *testing.F) {
	for _, s := range []string{"203.0.113.7:1", "[2001:db8::1]:80", "::ffff:1.2.3.4", "[fe80::1%eth0]:80", "2001:db8::", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		key := ClientNetworkOf(addr)
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		// Every address of the key's network has the same key.
		if ip = ip.Unmap().WithZone(""); ip.Is6() {
			p := netip.MustParsePrefix(key)
			if p.Bits() != 64 || !p.Contains(ip) {
				t.Fatalf("%q: key %q is not its /64", addr, key)
			}
			b := ip.As16()
			b[15] ^= 0xff
			b[8] ^= 0x80
			if other := ClientNetwork(netip.AddrFrom16(b)); other != key {
				t.Fatalf("%q and %v: keys %q and %q", addr, netip.AddrFrom16(b), key, other)
			}
			return
		}
		if key != ip.String() {
			t.Fatalf("%q: IPv4 key %q", addr, key)
		}
	})
}
