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
	c := media.NewCopier(dir, map[string]media.Fetcher{"twilio": twilio.NewFetcher("ACtest", "tok", "", nil)},
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
	if a[0].Status != "stored" || a[0].Size != 8 || a[0].ContentType != "image/jpeg" || !strings.HasPrefix(a[0].URL, "https://gw.example.com/media/2026/11/02/m1/0?") {
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
