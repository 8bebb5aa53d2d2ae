package media

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

	"github.com/opengateway/gateway/normalize"
)

func newCopier(t *testing.T, fetchers map[string]Fetcher) (*Copier, Dir) {
	dir := Dir{Root: t.TempDir()}
	c := NewCopier(dir, fetchers, Config{PublicURL: "https://gw.example.com", Secret: []byte("k"), MaxBytes: 1024, Attempts: 2},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	return c, dir
}

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
	c, dir := newCopier(t, map[string]Fetcher{"twilio": HTTPFetcher{User: "ACtest", Pass: "tok"}})
	m := normalize.Message{MessageID: "m1", Provider: "twilio", ReceivedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	for _, p := range []string{"/img", "/big", "/exe", "/gone", "/flaky"} {
		m.Attachments = append(m.Attachments, normalize.Attachment{ProviderRef: srv.URL + p, URL: srv.URL + p, Status: "pending"})
	}
	if err := c.Copy(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	a := m.Attachments
	if a[0].Status != "stored" || a[0].Size != 8 || a[0].ContentType != "image/jpeg" || !strings.HasPrefix(a[0].URL, "https://gw.example.com/media/2026/11/02/m1/0?") {
		t.Fatalf("stored attachment %+v", a[0])
	}
	for i, want := range []string{"larger than the limit", "type is not allowed", "HTTP 404", "HTTP 503"} {
		if got := a[i+1]; got.Status != "failed" || !strings.Contains(got.Error, want) {
			t.Errorf("attachment %d: %+v, want failed with %q", i+1, got, want)
		}
	}
	// The signed URL serves the file; a tampered or expired one does not.
	u, _ := url.Parse(a[0].URL)
	key := strings.TrimPrefix(u.Path, "/media/")
	if err := c.Verify(key, u.Query()); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify("2026/11/02/m1/1", u.Query()); err == nil {
		t.Fatal("a signature for another file was accepted")
	}
	c.now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	if err := c.Verify(key, u.Query()); err == nil {
		t.Fatal("an expired URL was accepted")
	}
	f, err := dir.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "JPEGDATA" {
		t.Fatalf("stored %q", b)
	}
}

func TestGraphFetcher(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer wa-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/v23.0/1234567890":
			w.Write([]byte(`{"messaging_product":"whatsapp","url":"` + srv.URL + `/file/abc","mime_type":"audio/ogg","file_size":5,"id":"1234567890"}`))
		case "/file/abc":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte("OGGSx"))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c, _ := newCopier(t, map[string]Fetcher{"meta_whatsapp": GraphFetcher{BaseURL: srv.URL, Version: "v23.0", Token: "wa-token"}})
	m := normalize.Message{MessageID: "m2", Provider: "meta_whatsapp", ReceivedAt: time.Now(),
		Attachments: []normalize.Attachment{{ProviderRef: "1234567890", Status: "pending"}, {ProviderRef: "999", Status: "pending"}}}
	if err := c.Copy(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	if a := m.Attachments[0]; a.Status != "stored" || a.ContentType != "audio/ogg" || a.Size != 5 {
		t.Fatalf("voice note %+v", a)
	}
	if a := m.Attachments[1]; a.Status != "failed" || !strings.Contains(a.Error, "404") {
		t.Fatalf("unknown media %+v", a)
	}
}
