package media

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"path/filepath"
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
	if a[0].Status != "stored" || a[0].Size != 8 || a[0].ContentType != "image/jpeg" || !strings.HasPrefix(a[0].URL, "https://gw.example.com/media/"+FileKey(&m, 0, nil)+"?") {
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
	fl, size, err := dir.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(fl)
	fl.Close()
	if string(b) != "JPEGDATA" || size != int64(len(b)) {
		t.Fatalf("stored %q, size %d", b, size)
	}
}

// Erasure deletes a file by its store key, which the link's signature
// vouches for, whatever the public URL: with a path in it, after it changed,
// after the link expired. Links of other hosts, unsigned or tampered with,
// name no key.
func TestKeyAndForget(t *testing.T) {
	f := &fetcher{files: map[string]file{"/img": {"JPEGDATA", "image/jpeg"}}}
	dir := Dir{Root: t.TempDir()}
	c := NewCopier(dir, map[string]Fetcher{"twilio": f}, Config{PublicURL: "https://example.com/gateway", Secret: []byte("k")},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	m := normalize.Message{MessageID: "m1", Provider: "twilio", ReceivedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
		Attachments: []normalize.Attachment{{ProviderRef: "/img", Status: "pending"}}}
	if err := c.Copy(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	link, want := m.Attachments[0].URL, FileKey(&m, 0, nil)
	if !strings.HasPrefix(link, "https://example.com/gateway/media/"+want+"?") {
		t.Fatalf("link %s", link)
	}
	moved := NewCopier(dir, nil, Config{PublicURL: "https://new.example.com", Secret: []byte("k")}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	moved.now = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
	for _, c := range []*Copier{c, moved} {
		if key, ok := c.Key(link); !ok || key != want {
			t.Errorf("Key(%s) = %q %v", link, key, ok)
		}
	}
	for _, other := range []string{
		"https://cdn.example/media/" + want,                                  // unsigned
		strings.Replace(link, want, FileKey(&m, 1, nil), 1),                  // another file, same signature
		strings.Replace(link, "sig=", "sig=0", 1),                            // tampered
		"https://example.com/gateway/media/../../etc/passwd?sig=x&expires=1", // made up
		"%zz",
	} {
		if key, ok := c.Key(other); ok {
			t.Errorf("Key(%s) = %q", other, key)
		}
	}
	key, _ := c.Key(link)
	if err := c.Forget(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if fl, _, err := dir.Open(context.Background(), key); err == nil {
		fl.Close()
		t.Fatal("the file is still stored after erasure")
	}
	if err := c.Forget(context.Background(), key); err != nil {
		t.Errorf("forgetting a file already gone: %v", err)
	}
}

// An operator may attach URLs on the hosts of GATEWAY_MEDIA_ALLOWED_HOSTS
// only; with none configured, no outside URL.
func TestAllowsLink(t *testing.T) {
	hosts, err := ParseHosts([]string{"files.shop.example", "*.cdn.example"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCopier(Dir{Root: t.TempDir()}, nil, Config{PublicURL: "https://gw.example.com", Secret: []byte("k"), AttachmentHosts: hosts},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	none := NewCopier(Dir{Root: t.TempDir()}, nil, Config{PublicURL: "https://gw.example.com", Secret: []byte("k")},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for link, want := range map[string]bool{
		"https://files.shop.example/brochure.pdf": true,
		"https://img.cdn.example/a.png?v=1":       true,
		"https://cdn.example/a.png":               false,
		"https://files.shop.example.evil/x":       false,
		"https://u:p@files.shop.example/x":        false,
		"file:///etc/passwd":                      false,
		"http://169.254.169.254/latest":           false,
	} {
		if got := c.AllowsLink(link); got != want {
			t.Errorf("AllowsLink(%s) = %v, want %v", link, got, want)
		}
		if none.AllowsLink(link) {
			t.Errorf("AllowsLink(%s) with no hosts configured", link)
		}
	}
}

// A transient failure is retried after a wait that ends with ctx: shutting
// down does not wait for the retries, nor try once more.
func TestCopyRetryEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &cancelling{cancel: cancel}
	c := NewCopier(Dir{Root: t.TempDir()}, map[string]Fetcher{"twilio": f}, Config{PublicURL: "https://gw.example.com", Secret: []byte("k"), Attempts: 5},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	m := normalize.Message{MessageID: "m1", Provider: "twilio", Attachments: []normalize.Attachment{{ProviderRef: "/flaky", Status: "pending"}}}
	if err := c.Copy(ctx, &m); !errors.Is(err, context.Canceled) {
		t.Errorf("Copy: %v, want the context's end", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d fetches: the wait before a retry outlived the context", n)
	}
	if m.Attachments[0].Status != "pending" {
		t.Errorf("attachment %+v: want it left pending for the next try", m.Attachments[0])
	}
}

// cancelling fails transiently and ends the context shortly after.
type cancelling struct {
	cancel context.CancelFunc
	calls  atomic.Int32
}

func (f *cancelling) Fetch(context.Context, string) (io.ReadCloser, string, error) {
	f.calls.Add(1)
	time.AfterFunc(20*time.Millisecond, f.cancel)
	return nil, "", errors.New("media: GET /flaky: HTTP 503")
}

func TestHostPatterns(t *testing.T) {
	h, err := ParseHosts([]string{"Media.Example.com", "*.cdn.example", "127.0.0.1:9000", "[::1]:8080", "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]bool{
		"https://media.example.com/a":      true,
		"http://media.example.com:8443/a":  true,
		"https://media.example.com./a":     true,
		"https://x.media.example.com/a":    false,
		"https://a.b.cdn.example/a":        true,
		"https://cdn.example/a":            false,
		"http://127.0.0.1:9000/a":          true,
		"http://127.0.0.1:9001/a":          false,
		"http://[::1]:8080/a":              true,
		"http://10.0.0.5/a":                true,
		"https://user@media.example.com/a": false,
		"gopher://media.example.com/a":     false,
	} {
		u, _ := url.Parse(raw)
		if got := h.Allows(u); got != want {
			t.Errorf("Allows(%s) = %v, want %v", raw, got, want)
		}
	}
	for _, tc := range []struct {
		host, port string
		want       bool
	}{{"media.example.com", "443", true}, {"a.cdn.example", "443", false}, {"127.0.0.1", "9000", true}, {"127.0.0.1", "80", false}} {
		if got := h.Internal(tc.host, tc.port); got != tc.want {
			t.Errorf("Internal(%s, %s) = %v, want %v", tc.host, tc.port, got, tc.want)
		}
	}
	if d, err := DefaultHosts("api.twilio.com"); err != nil || d.Internal("api.twilio.com", "443") {
		t.Error("a provider's default host may reach internal addresses")
	}
	for _, bad := range []string{"", "*", "https://x.example", "x.example/a", "a.*.example", "x.example:0", "u@x.example"} {
		if _, err := ParseHosts([]string{bad}); err == nil {
			t.Errorf("ParseHosts(%q) accepted", bad)
		}
	}
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "0.0.0.0": false, "::": false, "::1": false, "fd00::1": false, "fe80::1": false, "224.0.0.1": false,
		"::ffff:127.0.0.1": false, "100.64.0.1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != public {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, public)
		}
	}
}

// A file's key names the provider's message, never the delivery: a
// redelivery (another message id, another day) has the same keys, and
// copying it again leaves one file. The content, when given, is part of
// the key; a message without a provider id is keyed by its own id; no id
// can steer a key out of the store.
func TestFileKey(t *testing.T) {
	m := normalize.Message{MessageID: "m1", Provider: "twilio", ProviderMessageID: "MM1", ReceivedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	again := m
	again.MessageID, again.ReceivedAt = "m2", m.ReceivedAt.Add(72*time.Hour)
	if FileKey(&m, 0, nil) != FileKey(&again, 0, nil) || FileKey(&m, 0, []byte("a")) != FileKey(&again, 0, []byte("a")) {
		t.Error("a redelivery has other keys")
	}
	other := func(f func(*normalize.Message)) string { o := m; f(&o); return FileKey(&o, 0, nil) }
	for name, k := range map[string]string{
		"another index":    FileKey(&m, 1, nil),
		"another content":  FileKey(&m, 0, []byte("b")),
		"another provider": other(func(o *normalize.Message) { o.Provider = "meta" }),
		"another id":       other(func(o *normalize.Message) { o.ProviderMessageID = "MM2" }),
	} {
		if k == FileKey(&m, 0, nil) || k == FileKey(&m, 0, []byte("a")) {
			t.Errorf("%s: same key %s", name, k)
		}
	}
	if other(func(o *normalize.Message) { o.ProviderMessageID = "" }) == other(func(o *normalize.Message) { o.ProviderMessageID, o.MessageID = "", "m2" }) {
		t.Error("two messages without provider ids share a key")
	}
	dir := Dir{Root: t.TempDir()}
	if _, err := dir.path(other(func(o *normalize.Message) { o.ProviderMessageID = "../../etc/passwd" })); err != nil {
		t.Error(err)
	}

	f := &fetcher{files: map[string]file{"/img": {"JPEGDATA", "image/jpeg"}}}
	c := NewCopier(dir, map[string]Fetcher{"twilio": f}, Config{PublicURL: "https://gw.example.com", Secret: []byte("k")},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for _, d := range []normalize.Message{m, again} {
		d.Attachments = []normalize.Attachment{{ProviderRef: "/img", Status: "pending"}}
		if err := c.Copy(context.Background(), &d); err != nil || d.Attachments[0].Status != "stored" {
			t.Fatalf("copy: %v %+v", err, d.Attachments[0])
		}
	}
	n := 0
	_ = filepath.WalkDir(dir.Root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if n != 1 {
		t.Errorf("%d files after copying one message's picture twice, want 1", n)
	}
}

// entryFetcher has each entry point's files: a fetcher whose credentials
// differ by entry point.
type entryFetcher struct{ byEntry map[string]*fetcher }

func (f entryFetcher) Fetch(ctx context.Context, ref string) (io.ReadCloser, string, error) {
	return f.FetchAt(ctx, "", ref)
}

func (f entryFetcher) FetchAt(ctx context.Context, entryPoint, ref string) (io.ReadCloser, string, error) {
	if own, ok := f.byEntry[entryPoint]; ok {
		return own.Fetch(ctx, ref)
	}
	return nil, "", errors.Join(ErrPermanent, errors.New("no credentials of entry point "+entryPoint))
}

// A fetcher whose credentials differ by entry point is asked with the
// entry point the message came in at.
func TestCopyAtTheMessagesEntryPoint(t *testing.T) {
	f := entryFetcher{byEntry: map[string]*fetcher{
		"wa-us": {files: map[string]file{"111": {"US", "image/jpeg"}}},
		"wa-eu": {files: map[string]file{"222": {"EU", "image/jpeg"}}},
	}}
	c, _ := newCopier(t, map[string]Fetcher{"meta_whatsapp": f})
	for _, tc := range []struct{ entry, ref, status string }{{"wa-eu", "222", "stored"}, {"wa-us", "222", "failed"}, {"", "111", "failed"}} {
		m := normalize.Message{MessageID: "m-" + tc.entry, Provider: "meta_whatsapp", EntryPoint: tc.entry,
			Attachments: []normalize.Attachment{{ProviderRef: tc.ref, Status: "pending"}}}
		if err := c.Copy(context.Background(), &m); err != nil || m.Attachments[0].Status != tc.status {
			t.Errorf("media %s at entry point %q: %+v %v, want %s", tc.ref, tc.entry, m.Attachments[0], err, tc.status)
		}
	}
}
