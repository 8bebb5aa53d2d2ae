// Package media copies the files customers send into the gateway's media
// store before their message reaches events.v1, and serves them back under
// signed URLs that expire. The store is an interface (a directory by
// default) so that object storage can take its place.
//
// It owns the Copier, the Store, the signed URLs and the host rules of
// media (Hosts: where files may come from). Downloads are the providers'
// business: each provider package supplies its Fetcher (built on
// connectors/fetch, which applies Hosts to every request and redirect). It
// must make no HTTP calls itself and import nothing of fiber, Kafka or the
// provider packages.
package media

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/core/retry"
	"github.com/opengateway/gateway/normalize"
)

// Store keeps files by key.
type Store interface {
	// Put writes a file; it returns the bytes written. A file over max
	// bytes is refused with ErrTooLarge and nothing is kept.
	Put(ctx context.Context, key string, r io.Reader, max int64) (int64, error)
	// Open reads a file, streamed: the caller closes it. size is its
	// length in bytes.
	Open(ctx context.Context, key string) (f io.ReadCloser, size int64, err error)
	// Delete removes a file (erasure).
	Delete(ctx context.Context, key string) error
}

// Errors of fetching and storing.
var (
	ErrTooLarge  = errors.New("file is larger than the limit")
	ErrType      = errors.New("file type is not allowed")
	ErrNotFound  = errors.New("file not found")
	ErrPermanent = errors.New("the provider refused the file")
)

// Fetcher downloads a provider's file: ref is the provider's URL or media id.
type Fetcher interface {
	Fetch(ctx context.Context, ref string) (body io.ReadCloser, contentType string, err error)
}

// EntryPointFetcher is a Fetcher whose credentials depend on the entry
// point the message came in at (normalize.Message.EntryPoint): several
// WhatsApp numbers, each with its own token. The Copier calls FetchAt when
// a provider's fetcher has it.
type EntryPointFetcher interface {
	Fetcher
	FetchAt(ctx context.Context, entryPoint, ref string) (body io.ReadCloser, contentType string, err error)
}

// Dir is a Store in a local directory.
type Dir struct{ Root string }

var _ Store = Dir{}

func (d Dir) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("media: bad key %q", key)
	}
	return filepath.Join(d.Root, filepath.FromSlash(key)), nil
}

// Put writes to a temporary file and renames it into place, so a reader
// never sees half a file.
func (d Dir) Put(_ context.Context, key string, r io.Reader, max int64) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return 0, fmt.Errorf("media: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".part-*")
	if err != nil {
		return 0, fmt.Errorf("media: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	if err == nil && n > max {
		err = ErrTooLarge
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	return n, nil
}

// Open opens a file for reading; a key that names no regular file is
// ErrNotFound.
func (d Dir) Open(_ context.Context, key string) (io.ReadCloser, int64, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, 0, ErrNotFound
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("media: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = ErrNotFound
		}
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// Delete removes a file.
func (d Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Config configures the copier.
type Config struct {
	// PublicURL is the gateway's external base URL; files are served under
	// PublicURL + "/media/".
	PublicURL string
	// Secret signs the URLs.
	Secret []byte
	// URLTTL is how long a signed URL stays valid (default 7 days).
	URLTTL time.Duration
	// MaxBytes is the largest file copied (default 20 MiB).
	MaxBytes int64
	// AllowedTypes are content-type prefixes allowed (default: images,
	// audio, video, text, PDF, office documents, vCards).
	AllowedTypes []string
	// Attempts bounds the tries of a transient failure (default 3).
	Attempts int
	// AttachmentHosts are the hosts an operator's reply may attach files
	// from (GATEWAY_MEDIA_ALLOWED_HOSTS); empty: only the gateway's own
	// links of the customer's files.
	AttachmentHosts Hosts
}

// DefaultTypes are the content types copied unless configured otherwise.
var DefaultTypes = []string{"image/", "audio/", "video/", "text/", "application/pdf", "application/vnd.",
	"application/msword", "application/zip", "application/octet-stream"}

// FileKey is the store key of a message's index-th attachment. It is
// derived from what names the message at its provider (the provider and its
// message id), never from the delivery, so that every delivery of one
// message (a provider's retry, a Kafka redelivery) writes the same file and
// none leaves a second copy behind. content, when given (a file that came
// inside the webhook), is part of the key too: an email's Message-ID is
// chosen by its sender, and another email under the same Message-ID must
// not overwrite this one's file. A message without a provider id is keyed
// by its own id.
func FileKey(m *normalize.Message, index int, content []byte) string {
	h := sha256.New()
	if m.ProviderMessageID != "" {
		h.Write([]byte("provider\x00" + m.Provider + "\x00" + m.ProviderMessageID))
	} else {
		h.Write([]byte("message\x00" + m.MessageID))
	}
	name := strconv.Itoa(index)
	if content != nil {
		d := sha256.Sum256(content)
		name += "-" + hex.EncodeToString(d[:12])
	}
	return "m/" + hex.EncodeToString(h.Sum(nil)[:20]) + "/" + name
}

// Copier copies attachments into the store.
type Copier struct {
	store    Store
	fetchers map[string]Fetcher // by provider
	cfg      Config
	log      *slog.Logger
	results  *prometheus.CounterVec
	now      func() time.Time
}

// NewCopier returns a copier; fetchers are keyed by provider name.
func NewCopier(store Store, fetchers map[string]Fetcher, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Copier {
	if cfg.URLTTL <= 0 {
		cfg.URLTTL = 7 * 24 * time.Hour
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 20 << 20
	}
	if len(cfg.AllowedTypes) == 0 {
		cfg.AllowedTypes = DefaultTypes
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	c := &Copier{store: store, fetchers: fetchers, cfg: cfg, log: log, now: time.Now,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "media", Name: "copies_total",
			Help: "Attachments copied into the media store, by provider and result: stored, failed, skipped.",
		}, []string{"provider", "result"})}
	if reg != nil {
		reg.MustRegister(c.results)
	}
	return c
}

// Copy stores every pending attachment of m and points it at a signed
// gateway URL. An attachment that cannot be fetched for good is marked
// failed with the reason; nothing is silently dropped. Only ctx ending
// returns an error.
func (c *Copier) Copy(ctx context.Context, m *normalize.Message) error {
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if a.Status != "pending" {
			continue
		}
		f, ok := c.fetchers[m.Provider]
		if !ok {
			a.Status, a.Error = "failed", "no media fetcher for provider "+m.Provider
			c.results.WithLabelValues(m.Provider, "failed").Inc()
			continue
		}
		key := FileKey(m, i, nil)
		var err error
		for try := 1; ; try++ {
			err = c.copyOne(ctx, f, m.EntryPoint, key, a)
			if err == nil || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrType) || errors.Is(err, ErrPermanent) || try >= c.cfg.Attempts {
				break
			}
			if !retry.Sleep(ctx, time.Duration(try)*200*time.Millisecond) {
				return ctx.Err()
			}
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err() // shutting down: the message is handled again later
		}
		if err != nil {
			a.Status, a.Error = "failed", err.Error()
			c.log.Warn("media: attachment not copied", "provider", m.Provider, "message_id", m.MessageID, "error", err)
			c.results.WithLabelValues(m.Provider, "failed").Inc()
			continue
		}
		c.results.WithLabelValues(m.Provider, "stored").Inc()
	}
	return nil
}

func (c *Copier) copyOne(ctx context.Context, f Fetcher, entryPoint, key string, a *normalize.Attachment) error {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		body io.ReadCloser
		ct   string
		err  error
	)
	if ef, ok := f.(EntryPointFetcher); ok {
		body, ct, err = ef.FetchAt(fctx, entryPoint, a.ProviderRef)
	} else {
		body, ct, err = f.Fetch(fctx, a.ProviderRef)
	}
	if err != nil {
		return err
	}
	defer body.Close()
	if ct == "" {
		ct = a.ContentType
	}
	if !c.allowed(ct) {
		return fmt.Errorf("%w: %q", ErrType, ct)
	}
	n, err := c.store.Put(fctx, key, body, c.cfg.MaxBytes)
	if errors.Is(err, ErrTooLarge) {
		return fmt.Errorf("%w (%d bytes)", ErrTooLarge, c.cfg.MaxBytes)
	}
	if err != nil {
		return err
	}
	a.ContentType, a.Size, a.Status, a.Error = ct, n, "stored", ""
	a.URL = c.SignedURL(key)
	return nil
}

// Put stores a file the connector already has (email attachments) and
// returns the attachment pointing at it.
func (c *Copier) Put(ctx context.Context, key string, r io.Reader, a normalize.Attachment) normalize.Attachment {
	if !c.allowed(a.ContentType) {
		a.Status, a.Error = "failed", fmt.Sprintf("%v: %q", ErrType, a.ContentType)
		return a
	}
	n, err := c.store.Put(ctx, key, r, c.cfg.MaxBytes)
	if err != nil {
		a.Status, a.Error = "failed", err.Error()
		return a
	}
	a.Size, a.Status, a.Error, a.URL = n, "stored", "", c.SignedURL(key)
	return a
}

func (c *Copier) allowed(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, p := range c.cfg.AllowedTypes {
		if strings.HasPrefix(mt, p) {
			return true
		}
	}
	return false
}

// SignedURL returns the gateway URL of a stored file, valid for URLTTL.
func (c *Copier) SignedURL(key string) string {
	exp := strconv.FormatInt(c.now().Add(c.cfg.URLTTL).Unix(), 10)
	return c.cfg.PublicURL + "/media/" + key + "?expires=" + exp + "&sig=" + c.sign(key, exp)
}

func (c *Copier) sign(key, exp string) string {
	mac := hmac.New(sha256.New, c.cfg.Secret)
	mac.Write([]byte(key + "|" + exp))
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signed URL's key, expiry and signature.
func (c *Copier) Verify(key string, q url.Values) error {
	exp, sig := q.Get("expires"), q.Get("sig")
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || sig == "" {
		return errors.New("media: unsigned URL")
	}
	if !hmac.Equal([]byte(sig), []byte(c.sign(key, exp))) {
		return errors.New("media: bad signature")
	}
	if c.now().Unix() > t {
		return errors.New("media: URL expired")
	}
	return nil
}

// Open returns a stored file for serving, streamed, and its size.
func (c *Copier) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return c.store.Open(ctx, key)
}

// Key returns the store key of a gateway media link: the part of its path
// after "/media/" that the link's signature covers, whatever the public URL
// was when the link was made and whether or not the link has expired. ok is
// false for any other URL, and for a link whose signature does not match.
func (c *Copier) Key(link string) (key string, ok bool) {
	u, err := url.Parse(link)
	if err != nil {
		return "", false
	}
	q := u.Query()
	exp, sig := q.Get("expires"), q.Get("sig")
	if exp == "" || sig == "" {
		return "", false
	}
	for rest := u.Path; ; {
		_, after, found := strings.Cut(rest, "/media/")
		if !found {
			return "", false
		}
		if hmac.Equal([]byte(sig), []byte(c.sign(after, exp))) {
			return after, true
		}
		rest = after
	}
}

// AllowsLink reports whether an operator's reply may attach a URL that is
// not a gateway media link: its host is in AttachmentHosts.
func (c *Copier) AllowsLink(link string) bool {
	u, err := url.Parse(link)
	return err == nil && c.cfg.AttachmentHosts.Allows(u)
}

// Forget deletes a stored file by its key (erasure); a file already gone
// is not an error.
func (c *Copier) Forget(ctx context.Context, key string) error {
	return c.store.Delete(ctx, key)
}
