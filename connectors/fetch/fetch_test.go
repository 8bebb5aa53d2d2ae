package fetch_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/fetch"
	"github.com/opengateway/gateway/core/media"
)

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
	basic := fetch.HTTP{User: "ACtest", Pass: "secret", UserAgent: "gw/1.0.0"}
	bearer := fetch.HTTP{Bearer: "tok", UserAgent: "gw/1.0.0", Client: srv.Client()}
	for name, tc := range map[string]struct {
		f         fetch.HTTP
		path      string
		permanent bool
		status    string // in the error; "" for success
	}{
		"basic auth":              {f: basic, path: "/img"},
		"bearer":                  {f: bearer, path: "/img"},
		"wrong credentials":       {f: fetch.HTTP{User: "ACtest", Pass: "guess", UserAgent: "gw/1.0.0"}, path: "/img", permanent: true, status: "HTTP 401"},
		"no user agent":           {f: fetch.HTTP{Bearer: "tok"}, path: "/img", permanent: true, status: "HTTP 400"},
		"gone":                    {f: basic, path: "/gone?token=SECRETQUERY", permanent: true, status: "HTTP 404"},
		"rate limited":            {f: basic, path: "/busy", status: "HTTP 429"},
		"server error":            {f: bearer, path: "/down?sig=SECRETQUERY", status: "HTTP 502"},
		"unparseable URL refused": {f: basic, path: "/%zz", permanent: true, status: "invalid URL escape"},
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

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://cdn.example/a.jpg?oh=tok&oe=1": "https://cdn.example/a.jpg",
		"https://cdn.example/a.jpg":             "https://cdn.example/a.jpg",
		"":                                      "",
	} {
		if got := fetch.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
