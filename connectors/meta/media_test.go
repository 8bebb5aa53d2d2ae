package meta_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
)

// A WhatsApp media id resolves to a short-lived URL, fetched with the same
// token; the Graph answer's mime_type replaces an octet-stream content type.
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
	f, err := meta.NewGraphFetcher(meta.GraphFetcherConfig{BaseURL: srv.URL, Version: "v23.0", Token: "wa-token",
		AllowedHosts: []string{strings.TrimPrefix(srv.URL, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	c := media.NewCopier(media.Dir{Root: t.TempDir()},
		map[string]media.Fetcher{"meta_whatsapp": f},
		media.Config{PublicURL: "https://gw.example.com", Secret: []byte("k"), MaxBytes: 1024, Attempts: 2},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
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

// The WhatsApp token goes to the Graph API (and Meta's media download
// host) only: a media URL on any other host is fetched without it.
func TestGraphTokenStaysWithMeta(t *testing.T) {
	var otherAuth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "audio/ogg")
		w.Write([]byte("OGGSx"))
	}))
	defer other.Close()
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer wa-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"url":"` + other.URL + `/file/abc","mime_type":"audio/ogg","id":"1"}`))
	}))
	defer graph.Close()
	f, err := meta.NewGraphFetcher(meta.GraphFetcherConfig{BaseURL: graph.URL, Version: "v23.0", Token: "wa-token", AllowedHosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := f.Fetch(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	if v, _ := otherAuth.Load().(string); v != "" {
		t.Errorf("another host got Authorization %q", v)
	}
}

// Without GATEWAY_MEDIA_ALLOWED_HOSTS, Messenger and Instagram files come
// from Meta's CDN hosts only: an attachment URL pointing elsewhere is
// refused before any request.
func TestMetaDefaultHosts(t *testing.T) {
	var hits atomic.Int32
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer local.Close()
	cdn, err := meta.NewCDNFetcher(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cdn.Fetch(context.Background(), local.URL+"/x.jpg"); err == nil || !errors.Is(err, media.ErrPermanent) {
		t.Errorf("a local attachment URL: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests reached the local server", n)
	}
}
