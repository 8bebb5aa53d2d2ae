package meta_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
	c := media.NewCopier(media.Dir{Root: t.TempDir()},
		map[string]media.Fetcher{"meta_whatsapp": meta.GraphFetcher{BaseURL: srv.URL, Version: "v23.0", Token: "wa-token"}},
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
