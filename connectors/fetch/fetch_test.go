package fetch_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opengateway/gateway/connectors/fetch"
	"github.com/opengateway/gateway/core/media"
)

// operator is a GATEWAY_MEDIA_ALLOWED_HOSTS list.
func operator(t *testing.T, patterns ...string) media.Hosts {
	t.Helper()
	h, err := media.ParseHosts(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// defaults are a provider's own hosts.
func defaults(t *testing.T, patterns ...string) media.Hosts {
	t.Helper()
	h, err := media.DefaultHosts(patterns...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func hostOf(raw string) string { u, _ := url.Parse(raw); return u.Host }

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != "gw/1.0.0" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		u, p, basic := r.BasicAuth()
		bearer := r.Header.Get("Authorization") == "Bearer tok"
		if !(basic && u == "ACtest" && p == "secret") && !bearer {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/img":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte("JPEGDATA"))
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/down":
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	hosts := operator(t, hostOf(srv.URL))
	auth := []string{srv.URL}
	basic := fetch.New(fetch.Config{Hosts: hosts, AuthOrigins: auth, User: "ACtest", Pass: "secret", UserAgent: "gw/1.0.0"})
	bearer := fetch.New(fetch.Config{Hosts: hosts, AuthOrigins: auth, Bearer: "tok", UserAgent: "gw/1.0.0", Client: srv.Client()})
	for name, tc := range map[string]struct {
		f         *fetch.HTTP
		path      string
		permanent bool
		status    string // in the error; "" for success
	}{
		"basic auth":        {f: basic, path: "/img"},
		"bearer":            {f: bearer, path: "/img"},
		"wrong credentials": {f: fetch.New(fetch.Config{Hosts: hosts, AuthOrigins: auth, User: "ACtest", Pass: "guess", UserAgent: "gw/1.0.0"}), path: "/img", permanent: true, status: "HTTP 401"},
		"credentials for another origin": {f: fetch.New(fetch.Config{Hosts: hosts, AuthOrigins: []string{"https://api.twilio.com"}, User: "ACtest", Pass: "secret", UserAgent: "gw/1.0.0"}),
			path: "/img", permanent: true, status: "HTTP 401"},
		"no user agent":           {f: fetch.New(fetch.Config{Hosts: hosts, AuthOrigins: auth, Bearer: "tok"}), path: "/img", permanent: true, status: "HTTP 400"},
		"gone":                    {f: basic, path: "/gone?token=SECRETQUERY", permanent: true, status: "HTTP 404"},
		"rate limited":            {f: basic, path: "/busy", status: "HTTP 429"},
		"server error":            {f: bearer, path: "/down?sig=SECRETQUERY", status: "HTTP 502"},
		"unparseable URL refused": {f: basic, path: "/%zz?sig=SECRETQUERY", permanent: true, status: "invalid URL escape"},
	} {
		t.Run(name, func(t *testing.T) {
			body, ct, err := tc.f.Fetch(t.Context(), srv.URL+tc.path)
			if tc.status == "" {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(body)
				body.Close()
				if string(b) != "JPEGDATA" || ct != "image/jpeg" {
					t.Fatalf("got %q %q", b, ct)
				}
				return
			}
			if err == nil {
				body.Close()
				t.Fatal("no error")
			}
			if errors.Is(err, media.ErrPermanent) != tc.permanent || !strings.Contains(err.Error(), tc.status) {
				t.Errorf("err %v: want permanent=%v with %q", err, tc.permanent, tc.status)
			}
			if strings.Contains(err.Error(), "SECRETQUERY") {
				t.Errorf("err %v shows the URL's query", err)
			}
		})
	}
}

// counter is a local server that counts the requests reaching it.
func counter(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write([]byte("internal"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// refused checks that a fetch failed for good on the host rules.
func refused(t *testing.T, body io.ReadCloser, err error) {
	t.Helper()
	if err == nil {
		body.Close()
		t.Fatal("fetched")
	}
	if !errors.Is(err, fetch.ErrRefused) || !errors.Is(err, media.ErrPermanent) {
		t.Errorf("err %v: want a permanent refusal", err)
	}
}

// A file is fetched only from the provider's hosts, and never from a
// loopback or private address unless the operator names that host: the
// check is made on the address dialled, so a provider's host name that
// resolves inside (DNS rebinding) is refused too.
func TestHostRules(t *testing.T) {
	local, hits := counter(t, nil)
	port := local.URL[strings.LastIndex(local.URL, ":")+1:]
	dns := loopbackDNS(t)
	for name, tc := range map[string]struct {
		hosts media.Hosts
		url   string
		ok    bool
	}{
		"a host that is not the provider's":               {hosts: defaults(t, "api.twilio.com"), url: local.URL + "/x"},
		"a provider's default that is a loopback address": {hosts: defaults(t, "127.0.0.1"), url: local.URL + "/x"},
		"a provider's name resolving to loopback":         {hosts: defaults(t, "*.twiliocdn.test"), url: "http://mms.twiliocdn.test:" + port + "/x"},
		"an operator's wildcard resolving to loopback":    {hosts: operator(t, "*.corp.test"), url: "http://media.corp.test:" + port + "/x"},
		"an operator's host on another port":              {hosts: operator(t, "127.0.0.1:1"), url: local.URL + "/x"},
		"user info":                                       {hosts: operator(t, "127.0.0.1"), url: strings.Replace(local.URL, "://", "://u:p@", 1) + "/x"},
		"another scheme":                                  {hosts: operator(t, "127.0.0.1"), url: strings.Replace(local.URL, "http://", "ftp://", 1) + "/x"},
		"an operator's exact name is reached":             {hosts: operator(t, "media.corp.test"), url: "http://media.corp.test:" + port + "/x", ok: true},
		"an operator's exact address is reached":          {hosts: operator(t, "127.0.0.1:"+port), url: local.URL + "/x", ok: true},
	} {
		t.Run(name, func(t *testing.T) {
			hits.Store(0)
			f := fetch.New(fetch.Config{Hosts: tc.hosts, Resolver: dns})
			body, _, err := f.Fetch(t.Context(), tc.url)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				body.Close()
				return
			}
			refused(t, body, err)
			if n := hits.Load(); n != 0 {
				t.Errorf("%d requests reached the local server", n)
			}
			if strings.Contains(err.Error(), "u:p@") {
				t.Errorf("err %v shows the user info", err)
			}
		})
	}
}

// Credentials go to the provider's API origin only, hop by hop: a redirect
// to the CDN gets none; a redirect within the API origin keeps them.
func TestCredentialsStayWithTheAPI(t *testing.T) {
	var cdnAuth atomic.Value
	cdn, _ := counter(t, func(w http.ResponseWriter, r *http.Request) {
		cdnAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write([]byte("JPEGDATA"))
	})
	var api *httptest.Server
	api, _ = counter(t, func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ACtest" || p != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/Media/ME1":
			http.Redirect(w, r, api.URL+"/Media/ME1/file", http.StatusFound)
		case "/Media/ME1/file":
			http.Redirect(w, r, cdn.URL+"/signed?Expires=1&Signature=SECRETQUERY", http.StatusTemporaryRedirect)
		}
	})
	f := fetch.New(fetch.Config{Hosts: operator(t, "127.0.0.1"), AuthOrigins: []string{api.URL}, User: "ACtest", Pass: "secret"})
	body, _, err := f.Fetch(t.Context(), api.URL+"/Media/ME1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "JPEGDATA" {
		t.Fatalf("got %q", b)
	}
	if v, _ := cdnAuth.Load().(string); v != "" {
		t.Errorf("the redirect target got Authorization %q", v)
	}
}

// Every redirect is checked by the same rules, and there are few of them.
func TestRedirectRules(t *testing.T) {
	private, hits := counter(t, nil)
	port := private.URL[strings.LastIndex(private.URL, ":")+1:]
	var loop *httptest.Server
	loop, _ = counter(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+r.URL.Path+"x", http.StatusFound)
	})
	for name, target := range map[string]string{
		"to a private address":            private.URL + "/latest/meta-data?token=SECRETQUERY",
		"to a name resolving to loopback": "http://files.cdn.test:" + port + "/x?token=SECRETQUERY",
		"to another host":                 "http://169.254.169.254/latest/meta-data?token=SECRETQUERY",
	} {
		t.Run(name, func(t *testing.T) {
			hits.Store(0)
			api, _ := counter(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) })
			// The operator names the API's address exactly, and a wildcard
			// that must not reach inside.
			f := fetch.New(fetch.Config{Hosts: operator(t, hostOf(api.URL), "*.cdn.test"), Resolver: loopbackDNS(t)})
			body, _, err := f.Fetch(t.Context(), api.URL+"/Media/ME1")
			refused(t, body, err)
			if n := hits.Load(); n != 0 {
				t.Errorf("%d requests reached the private address", n)
			}
			if strings.Contains(err.Error(), "SECRETQUERY") {
				t.Errorf("err %v shows the redirect's query", err)
			}
		})
	}
	t.Run("too many", func(t *testing.T) {
		f := fetch.New(fetch.Config{Hosts: operator(t, hostOf(loop.URL))})
		body, _, err := f.Fetch(t.Context(), loop.URL+"/a")
		refused(t, body, err)
		if !strings.Contains(err.Error(), "redirects") {
			t.Errorf("err %v", err)
		}
	})
}

// Errors name the URL without its query, fragment or user info, also when
// the connection fails.
func TestErrorsHideTheQuery(t *testing.T) {
	f := fetch.New(fetch.Config{Hosts: operator(t, "127.0.0.1")})
	_, _, err := f.Fetch(t.Context(), "http://127.0.0.1:1/Media/ME1?token=SECRETQUERY#SECRETFRAGMENT")
	if err == nil || errors.Is(err, media.ErrPermanent) {
		t.Fatalf("err %v: want a transient failure", err)
	}
	if !strings.Contains(err.Error(), "http://127.0.0.1:1/Media/ME1") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("err %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://cdn.example/a.jpg?oh=tok&oe=1": "https://cdn.example/a.jpg",
		"https://cdn.example/a.jpg":             "https://cdn.example/a.jpg",
		"https://AC1:token@api.example/a#frag":  "https://api.example/a",
		"https://cdn.example/%zz?sig=x":         "https://cdn.example/%zz",
		"":                                      "",
	} {
		if got := fetch.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// loopbackDNS is a resolver whose every name has the address 127.0.0.1, as
// an attacker's DNS would answer.
func loopbackDNS(t *testing.T) *net.Resolver {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			i := 12 // the question's name, after the header
			for i < n && q[i] != 0 {
				i += int(q[i]) + 1
			}
			if i+5 > n {
				continue
			}
			resp := append([]byte(nil), q[:i+5]...)
			resp[2], resp[3] = 0x81, 0x80              // an answer, no error
			clear(resp[6:12])                          // no answers yet, no other records
			if binary.BigEndian.Uint16(q[i+1:]) == 1 { // A
				resp[7] = 1
				resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1)
			}
			pc.WriteTo(resp, addr)
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}
