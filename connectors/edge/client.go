package edge

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ClientNetwork is the key every per-client limit counts by: an IPv4
// address as it is, an IPv6 address by its /64 (one subscriber usually
// holds a whole /64, so counting exact IPv6 addresses would leave a client
// unlimited). An IPv4-mapped IPv6 address counts as its IPv4 address, and a
// zone is ignored.
func ClientNetwork(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if !ip.Is6() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// ClientNetworkOf is ClientNetwork of a remote address as net.Addr.String
// or fiber's Ctx.IP give it: "host:port", "[v6]:port" or a bare address. A
// string that names no address is its own key (such a client is still
// counted, as one).
func ClientNetworkOf(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ClientNetwork(ap.Addr())
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		return ClientNetwork(ip)
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			return ClientNetwork(ip)
		}
	}
	return addr
}

// ClientOf is the client network of a connection's remote address.
func ClientOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ClientNetwork(ip)
		}
	}
	return ClientNetworkOf(a.String())
}

// DefaultMaxClients bounds the clients a RateLimiter remembers.
const DefaultMaxClients = 100_000

// RateLimiter allows each client network at most n events per window:
// a client's allowance refills evenly over the window (a token bucket of
// n). Its memory is bounded: a client is forgotten once its allowance is
// whole again, and past maxClients the least recently seen is forgotten
// first, so a client rotating addresses cannot grow it. Safe for
// concurrent use.
type RateLimiter struct {
	n          float64
	window     time.Duration
	maxClients int
	now        func() time.Time

	mu      sync.Mutex
	clients map[string]*list.Element // of *bucket
	lru     *list.List               // most recently seen first
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// NewRateLimiter allows n events per window per client network, and
// remembers at most maxClients clients (DefaultMaxClients when 0).
func NewRateLimiter(n int, window time.Duration, maxClients int) *RateLimiter {
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	return &RateLimiter{n: float64(max(n, 1)), window: window, maxClients: maxClients, now: time.Now,
		clients: map[string]*list.Element{}, lru: list.New()}
}

// Allow reports whether the client network may have one more event now,
// and counts it if so.
func (l *RateLimiter) Allow(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.forgetFull(now)
	e, ok := l.clients[client]
	if !ok {
		if l.lru.Len() >= l.maxClients {
			l.forget(l.lru.Back())
		}
		e = l.lru.PushFront(&bucket{key: client, tokens: l.n, at: now})
		l.clients[client] = e
	}
	l.lru.MoveToFront(e)
	b := e.Value.(*bucket)
	b.tokens = l.refilled(b, now)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refilled is b's allowance at now.
func (l *RateLimiter) refilled(b *bucket, now time.Time) float64 {
	if d := now.Sub(b.at); d > 0 {
		return min(l.n, b.tokens+l.n*float64(d)/float64(l.window))
	}
	return b.tokens
}

// forgetFull drops the least recently seen clients whose allowance is
// whole again: remembering them changes nothing.
func (l *RateLimiter) forgetFull(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		if l.refilled(e.Value.(*bucket), now) < l.n {
			return
		}
		l.forget(e)
	}
}

func (l *RateLimiter) forget(e *list.Element) {
	delete(l.clients, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

// Clients is the number of client networks remembered.
func (l *RateLimiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
