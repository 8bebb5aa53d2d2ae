package twilio_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
)

// Twilio media URLs are fetched with the account's basic auth and copied
// into the media store; what cannot be fetched is marked failed with why.
func TestCopyTwilioMedia(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if u, p, ok := r.BasicAuth(); !ok || u != "ACtest" || p != "tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/img":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte("JPEGDATA"))
		case "/big":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/exe":
			w.Header().Set("Content-Type", "application/x-msdownload")
			w.Write([]byte("MZ"))
		case "/flaky":
			if hits.Load() < 100 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	dir := media.Dir{Root: t.TempDir()}
	fetcher, err := twilio.NewFetcher(twilio.FetcherConfig{AccountSID: "ACtest", AuthToken: "tok", APIURL: srv.URL,
		AllowedHosts: []string{strings.TrimPrefix(srv.URL, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	c := media.NewCopier(dir, map[string]media.Fetcher{"twilio": fetcher},
		media.Config{PublicURL: "https://gw.example.com", Secret: []byte("k"), MaxBytes: 1024, Attempts: 2},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	m := normalize.Message{MessageID: "m1", Provider: "twilio", ReceivedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	for _, p := range []string{"/img", "/big", "/exe", "/gone", "/flaky"} {
		m.Attachments = append(m.Attachments, normalize.Attachment{ProviderRef: srv.URL + p, URL: srv.URL + p, Status: "pending"})
	}
	if err := c.Copy(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	a := m.Attachments
	if a[0].Status != "stored" || a[0].Size != 8 || a[0].ContentType != "image/jpeg" || !strings.HasPrefix(a[0].URL, "https://gw.example.com/media/"+media.FileKey(&m, 0, nil)+"?") {
		t.Fatalf("stored attachment %+v", a[0])
	}
	for i, want := range []string{"larger than the limit", "type is not allowed", "HTTP 404", "HTTP 503"} {
		if got := a[i+1]; got.Status != "failed" || !strings.Contains(got.Error, want) {
			t.Errorf("attachment %d: %+v, want failed with %q", i+1, got, want)
		}
	}
	// The signed URL serves the file.
	u, _ := url.Parse(a[0].URL)
	key := strings.TrimPrefix(u.Path, "/media/")
	if err := c.Verify(key, u.Query()); err != nil {
		t.Fatal(err)
	}
	f, _, err := dir.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "JPEGDATA" {
		t.Fatalf("stored %q", b)
	}
}

// copier copies Twilio media with the given fetcher, logging into log.
func copier(t *testing.T, cfg twilio.FetcherConfig, log io.Writer) *media.Copier {
	t.Helper()
	f, err := twilio.NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return media.NewCopier(media.Dir{Root: t.TempDir()}, map[string]media.Fetcher{"twilio": f},
		media.Config{PublicURL: "https://gw.example.com", Secret: []byte("k"), MaxBytes: 1024, Attempts: 2},
		slog.New(slog.NewTextHandler(log, nil)), nil)
}

func mms(refs ...string) normalize.Message {
	m := normalize.Message{MessageID: "m1", Provider: "twilio", ReceivedAt: time.Now()}
	for _, r := range refs {
		m.Attachments = append(m.Attachments, normalize.Attachment{ProviderRef: r, URL: r, Status: "pending"})
	}
	return m
}

// A MediaUrl pointing at the gateway's own network (here a loopback
// address) is refused: with the default hosts nothing but Twilio's is
// fetched, so no request, and no credentials, reach the local server.
func TestLoopbackMediaURLRefused(t *testing.T) {
	var hits atomic.Int32
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write([]byte("internal"))
	}))
	defer local.Close()
	c := copier(t, twilio.FetcherConfig{AccountSID: "ACtest", AuthToken: "tok"}, io.Discard)
	m := mms(local.URL+"/admin", strings.Replace(local.URL, "127.0.0.1", "localhost", 1)+"/admin")
	if err := c.Copy(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	for _, a := range m.Attachments {
		if a.Status != "failed" || !strings.Contains(a.Error, "not allowed") {
			t.Errorf("attachment %+v: want failed, host not allowed", a)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests reached the local server", n)
	}
}

// Twilio's media URL redirects to its CDN: the account's credentials go to
// the API (TWILIO_API_URL) only, never to where it redirects.
func TestCredentialsNotSentToRedirectTarget(t *testing.T) {
	var cdnAuth atomic.Value
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write([]byte("JPEGDATA"))
	}))
	defer cdn.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ACtest" || p != "tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, cdn.URL+"/ME1?Expires=1", http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	c := copier(t, twilio.FetcherConfig{AccountSID: "ACtest", AuthToken: "tok", APIURL: api.URL, AllowedHosts: []string{"127.0.0.1"}}, io.Discard)
	m := mms(api.URL + "/2010-04-01/Accounts/ACtest/Messages/MM1/Media/ME1")
	if err := c.Copy(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	if a := m.Attachments[0]; a.Status != "stored" || a.Size != 8 {
		t.Fatalf("attachment %+v", a)
	}
	if v, _ := cdnAuth.Load().(string); v != "" {
		t.Errorf("the redirect target got Authorization %q", v)
	}
}

// A failed copy says why in attachment.error and in the log, naming the
// URL without its query (which may hold a token) and without credentials.
func TestMediaErrorsHideQueryAndCredentials(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest?token=SECRETQUERY", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer api.Close()
	var log strings.Builder
	c := copier(t, twilio.FetcherConfig{AccountSID: "ACtest", AuthToken: "SECRETTOKEN", APIURL: api.URL,
		AllowedHosts: []string{"127.0.0.1"}}, &log)
	m := mms(api.URL+"/gone?token=SECRETQUERY", api.URL+"/redirect?sig=SECRETQUERY", "http://127.0.0.1:1/ME1?token=SECRETQUERY",
		"http://ACtest:SECRETTOKEN@127.0.0.1:1/ME1", "https://evil.example/x?token=SECRETQUERY")
	if err := c.Copy(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	for i, a := range m.Attachments {
		if a.Status != "failed" || a.Error == "" {
			t.Errorf("attachment %d: %+v, want failed with the reason", i, a)
		}
		if strings.Contains(a.Error, "SECRET") {
			t.Errorf("attachment %d: error %q shows a query or credentials", i, a.Error)
		}
	}
	if !strings.Contains(log.String(), "attachment not copied") || strings.Contains(log.String(), "SECRET") {
		t.Errorf("log shows a query or credentials:\n%s", log.String())
	}
}
