package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
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

// fetcher is a provider whose files are refs in a map; a ref it does not
// have fails permanently, a ref in transient fails every try.
type fetcher struct {
	files     map[string]file
	transient map[string]bool
	calls     atomic.Int32
}

type file struct{ body, contentType string }

func (f *fetcher) Fetch(_ context.Context, ref string) (io.ReadCloser, string, error) {
	f.calls.Add(1)
	if f.transient[ref] {
		return nil, "", errors.New("media: GET " + ref + ": HTTP 503")
	}
	fl, ok := f.files[ref]
	if !ok {
		return nil, "", errors.Join(ErrPermanent, errors.New("media: GET "+ref+": HTTP 404"))
	}
	return io.NopCloser(strings.NewReader(fl.body)), fl.contentType, nil
}

// The copier stores what it may, marks the rest failed with the reason,
// retries only transient failures, and serves the copy under a signed URL
// that expires. (Provider downloads are tested with each provider's fetcher
// in connectors/.)
func TestCopy(t *testing.T) {
	f := &fetcher{files: map[string]file{
		"/img": {"JPEGDATA", "image/jpeg"}, "/big": {strings.Repeat("x", 2048), "image/png"}, "/exe": {"MZ", "application/x-msdownload"},
	}, transient: map[string]bool{"/flaky": true}}
	c, dir := newCopier(t, map[string]Fetcher{"twilio": f})
	m := normalize.Message{MessageID: "m1", Provider: "twilio", ReceivedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	for _, p := range []string{"/img", "/big", "/exe", "/gone", "/flaky"} {
		m.Attachments = append(m.Attachments, normalize.Attachment{ProviderRef: p, URL: "https://provider.example" + p, Status: "pending"})
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
	// One try each, two for the transient failure (Attempts: 2).
	if n := f.calls.Load(); n != 6 {
		t.Errorf("%d fetches, want 6: only transient failures are retried", n)
	}
	// A provider without a fetcher fails the attachment, named.
	other := normalize.Message{MessageID: "m9", Provider: "nobody", Attachments: []normalize.Attachment{{ProviderRef: "/img", Status: "pending"}}}
	if err := c.Copy(context.Background(), &other); err != nil || other.Attachments[0].Status != "failed" ||
		!strings.Contains(other.Attachments[0].Error, "no media fetcher") {
		t.Errorf("attachment of an unknown provider: %+v (%v)", other.Attachments[0], err)
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
	fl, err := dir.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(fl)
	fl.Close()
	if string(b) != "JPEGDATA" {
		t.Fatalf("stored %q", b)
	}
}
