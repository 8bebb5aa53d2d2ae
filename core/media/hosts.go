package media

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Hosts are the hosts files may come from: patterns "host" (any port),
// "host:port" and "*.suffix" (any name under suffix, not suffix itself).
// A provider's defaults never reach a loopback, private, link-local,
// unspecified or multicast address; the operator's list
// (GATEWAY_MEDIA_ALLOWED_HOSTS) may, for the hosts it names exactly (not
// through a wildcard).
type Hosts struct {
	patterns []hostPattern
}

type hostPattern struct {
	host     string // lower case, no brackets; the suffix of a wildcard
	port     string // "" for any port
	wildcard bool
	// internal: the host may be an internal address.
	internal bool
}

// DefaultHosts reads a provider's own hosts: none of them may be an
// internal address.
func DefaultHosts(patterns ...string) (Hosts, error) {
	return parseHosts(patterns, false)
}

// ParseHosts reads the operator's list (GATEWAY_MEDIA_ALLOWED_HOSTS): the
// hosts it names exactly may be internal addresses.
func ParseHosts(patterns []string) (Hosts, error) {
	return parseHosts(patterns, true)
}

func parseHosts(patterns []string, operator bool) (Hosts, error) {
	var h Hosts
	for _, raw := range patterns {
		p, err := parsePattern(raw)
		if err != nil {
			return Hosts{}, err
		}
		p.internal = operator && !p.wildcard
		h.patterns = append(h.patterns, p)
	}
	return h, nil
}

func parsePattern(raw string) (hostPattern, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	bad := func() (hostPattern, error) {
		return hostPattern{}, fmt.Errorf("media: %q is not a host pattern (host, host:port or *.suffix)", raw)
	}
	if s == "" || strings.ContainsAny(s, "/@?#\\ \t") {
		return bad()
	}
	var p hostPattern
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad()
		}
		host, p.port = h, port
	} else if strings.HasPrefix(s, "[") {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host, p.wildcard = rest, true
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || strings.Contains(host, "*") || strings.HasPrefix(host, ".") {
		return bad()
	}
	if strings.Contains(host, ":") && (p.wildcard || net.ParseIP(host) == nil) {
		return bad()
	}
	p.host = host
	return p, nil
}

// Empty reports whether no host is allowed.
func (h Hosts) Empty() bool { return len(h.patterns) == 0 }

// Allows reports whether u may be fetched: http or https, no user info, a
// host in the list.
func (h Hosts) Allows(u *url.URL) bool {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host == "" {
		return false
	}
	_, ok := h.match(hostPort(u))
	return ok
}

// Internal reports whether host:port (as dialled) is named exactly by the
// operator's list, so that it may resolve to an internal address.
func (h Hosts) Internal(host, port string) bool {
	p, ok := h.match(strings.ToLower(strings.TrimSuffix(host, ".")), port)
	return ok && p.internal
}

func (h Hosts) match(host, port string) (hostPattern, bool) {
	for _, p := range h.patterns {
		if p.port != "" && p.port != port {
			continue
		}
		if p.wildcard && strings.HasSuffix(host, "."+p.host) || !p.wildcard && host == p.host {
			return p, true
		}
	}
	return hostPattern{}, false
}

// hostPort is a URL's lower-case host (without brackets or a final dot)
// and its port, the scheme's default when none is given.
func hostPort(u *url.URL) (string, string) {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), port
}

// PublicAddr reports whether an address may be reached without the
// operator naming its host: not loopback, private (RFC 1918, RFC 4193),
// link-local, unspecified, multicast, "this network" (0.0.0.0/8) or shared
// (100.64.0.0/10), in IPv4 or IPv4-mapped IPv6 form.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("255.255.255.255/32"),
}
