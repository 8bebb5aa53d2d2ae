package twilio

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opengateway/gateway/connectors/webhook"
)

// MaxParams bounds the parameters of a signed form. Twilio sends about 40;
// a form with more is refused as malformed before any signing work, so an
// unsigned request cannot make the gateway hash (or parse) thousands of them.
const MaxParams = 1000

// signer computes X-Twilio-Signature as Twilio does: base64(HMAC-SHA1(auth
// token, URL + name and value of every parameter, sorted by name; a name
// given several times once for each of its distinct values, in byte
// order)), as twilio-python's, twilio-node's and twilio-php's validators
// and their shared test vector sign a repeated parameter. (twilio-go's
// ValidateBody signs only the first value, so a value appended to a
// captured request would still verify.) The parts are written into the MAC
// one after another; no string of them is built.
type signer struct {
	key []byte
	// macs, when set, keeps HMAC states keyed with key for reuse
	// (*macState).
	macs *sync.Pool
	// ports, when set, keeps the port variants of the last URL verified:
	// a route's requests all come to the same URL.
	ports *atomic.Pointer[portPair]
}

// macState is an HMAC keyed with the signer's key and the buffers one
// verification needs, reused across requests.
type macState struct {
	w    stringWriter // writes into the MAC
	raw  [sha1.Size]byte
	keys []string
}

func newMACState(key []byte) *macState { return &macState{w: stringWriter{h: hmac.New(sha1.New, key)}} }

// portPair is a URL and its variants with and without the default port.
type portPair struct{ url, with, without string }

func newSigner(key []byte) signer {
	return signer{key: key, macs: &sync.Pool{New: func() any { return newMACState(key) }},
		ports: &atomic.Pointer[portPair]{}}
}

// sum writes the signature of fullURL and params into dst (28 bytes of
// base64) and returns it. keys are the sorted names of params.
func (s signer) sum(dst []byte, st *macState, fullURL string, params url.Values, keys []string) []byte {
	w := &st.w
	w.h.Reset()
	w.n = 0
	w.WriteString(fullURL)
	for _, k := range keys {
		switch vs := params[k]; len(vs) {
		case 0:
			w.WriteString(k)
		case 1:
			w.WriteString(k)
			w.WriteString(vs[0])
		default:
			// A copy: the caller's form keeps its order.
			sorted := slices.Clone(vs)
			slices.Sort(sorted)
			for _, v := range slices.Compact(sorted) {
				w.WriteString(k)
				w.WriteString(v)
			}
		}
	}
	w.flush()
	base64.StdEncoding.Encode(dst, w.h.Sum(st.raw[:0]))
	return dst[:base64.StdEncoding.EncodedLen(sha1.Size)]
}

// verify reports whether sig is the signature of fullURL and params, with
// the URL as given or with its default port added or removed (Twilio signs
// either, as twilio-go's RequestValidator accepts).
func (s signer) verify(fullURL string, params url.Values, sig string) bool {
	var st *macState
	if s.macs != nil {
		st = s.macs.Get().(*macState)
		defer s.macs.Put(st)
	} else {
		st = newMACState(s.key)
	}
	keys := st.keys[:0]
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	defer func() { clear(keys); st.keys = keys[:0] }()
	var buf [28]byte
	ok := false
	with, without := s.portVariants(fullURL)
	for _, u := range [2]string{with, without} {
		// Both variants are always computed: the time taken says nothing
		// about which one matched.
		if hmac.Equal(s.sum(buf[:], st, u, params, keys), []byte(sig)) {
			ok = true
		}
	}
	return ok
}

// portVariants returns the variants of fullURL with and without its
// default port, from the last URL's when it is the same.
func (s signer) portVariants(fullURL string) (with, without string) {
	if s.ports == nil {
		return portVariants(fullURL)
	}
	if pp := s.ports.Load(); pp != nil && pp.url == fullURL {
		return pp.with, pp.without
	}
	with, without = portVariants(fullURL)
	s.ports.Store(&portPair{url: fullURL, with: with, without: without})
	return with, without
}

// stringWriter feeds strings to a hash through a fixed buffer, so neither
// the URL nor a value is copied into a new byte slice.
type stringWriter struct {
	h   hash.Hash
	buf [512]byte
	n   int
}

func (w *stringWriter) WriteString(s string) {
	for len(s) > 0 {
		c := copy(w.buf[w.n:], s)
		w.n += c
		s = s[c:]
		if w.n == len(w.buf) {
			w.flush()
		}
	}
}

func (w *stringWriter) flush() {
	w.h.Write(w.buf[:w.n])
	w.n = 0
}

// portVariants returns withPort(fullURL) and withoutPort(fullURL), parsing
// the URL once.
func portVariants(fullURL string) (with, without string) {
	u, err := url.Parse(fullURL)
	if err != nil {
		return fullURL, fullURL
	}
	if u.Port() != "" {
		v := *u
		v.Host = strings.Split(v.Host, ":")[0]
		return fullURL, v.String()
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	v := *u
	v.Host += ":" + port
	return v.String(), fullURL
}

// withPort returns fullURL with the scheme's default port when it names no
// port (as twilio-go's addPort does).
func withPort(fullURL string) string {
	u, err := url.Parse(fullURL)
	if err != nil || u.Port() != "" {
		return fullURL
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	u.Host += ":" + port
	return u.String()
}

// withoutPort returns fullURL without its port (as twilio-go's removePort
// does).
func withoutPort(fullURL string) string {
	u, err := url.Parse(fullURL)
	if err != nil || u.Port() == "" {
		return fullURL
	}
	u.Host = strings.Split(u.Host, ":")[0]
	return u.String()
}

// countParams counts the parameters url.ParseQuery would find in a form
// body (its non-empty &-separated parts), stopping past max.
func countParams(body []byte, max int) int {
	n := 0
	for len(body) > 0 && n <= max {
		i := bytes.IndexByte(body, '&')
		if i < 0 {
			i = len(body)
		}
		if i > 0 {
			n++
		}
		body = body[min(i+1, len(body)):]
	}
	return n
}

// bodySHA256 returns the bodySHA256 query parameter of a JSON webhook's
// URL, "" for a form webhook.
func bodySHA256(fullURL string) string {
	if !strings.Contains(fullURL, "?") {
		return ""
	}
	u, err := url.Parse(fullURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("bodySHA256")
}

// bodyMatches reports whether body hashes to the hex SHA-256 in want.
func bodyMatches(body []byte, want string) bool {
	sum := sha256.Sum256(body)
	var got [sha256.Size * 2]byte
	hex.Encode(got[:], sum[:])
	return hmac.Equal(got[:], []byte(want))
}

// Sign computes X-Twilio-Signature the way Twilio does for a form POST:
// base64(HMAC-SHA1(auth token, URL + each parameter name and value, sorted
// by name, a repeated name once for each of its distinct values in byte
// order)). The gateway uses it to sign test webhooks (`gateway sign`,
// loadgen); tests check it against twilio-go and the documented vectors.
func Sign(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf [28]byte
	return string(signer{key: []byte(authToken)}.sum(buf[:], newMACState([]byte(authToken)), fullURL, form, keys))
}

func errNoSignature() error {
	return fmt.Errorf("twilio: %w: no X-Twilio-Signature header", webhook.ErrSignature)
}

func errMismatch() error {
	return fmt.Errorf("twilio: %w: X-Twilio-Signature does not match", webhook.ErrSignature)
}
