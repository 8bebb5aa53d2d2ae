package connectors_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
)

// mediaServer serves the media route of a real copier over a directory,
// on a real listener, as the gateway does.
func mediaServer(t *testing.T) (base string, c *media.Copier) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c = media.NewCopier(media.Dir{Root: t.TempDir()}, nil, media.Config{PublicURL: "https://gw.example.com",
		Secret: []byte("k"), MaxBytes: 20 << 20}, log, nil)
	app := connectors.NewApp(connectors.Config{Log: log})
	connectors.MountMedia(app, c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(edge.LimitListener(ln, 0, 0)) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(time.Second) })
	return "http://" + ln.Addr().String(), c
}

// local turns a signed link into the test server's URL.
func local(base, link string) string {
	return base + strings.TrimPrefix(link, "https://gw.example.com")
}

// Media are streamed from the store: 40 clients reading an 8 MiB file
// slowly, all at once, cost the gateway a small fraction of one file each
// (the route used to read the whole file into memory per request: 40 slow
// readers took the process from 40 MB to 516 MB). Each gets the file byte
// for byte with its Content-Length.
func TestMediaStreamedToSlowReaders(t *testing.T) {
	base, c := mediaServer(t)
	const readers, size = 40, 8 << 20
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	want := sha256.Sum256(data)
	a := c.Put(context.Background(), "big/0", bytes.NewReader(data), normalize.Attachment{ContentType: "image/jpeg"})
	if a.Status != "stored" {
		t.Fatalf("put: %+v", a)
	}
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: readers, MaxIdleConnsPerHost: readers}}
	var started, wg sync.WaitGroup
	release := make(chan struct{})
	errs := make(chan string, readers)
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < readers; i++ {
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(local(base, a.URL))
			if err != nil {
				started.Done()
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			_, err = io.CopyN(h, resp.Body, 64<<10) // a first bite, then a pause
			started.Done()
			<-release
			if _, err2 := io.Copy(h, resp.Body); err == nil {
				err = err2
			}
			switch {
			case err != nil:
				errs <- err.Error()
			case resp.StatusCode != 200 || resp.ContentLength != size || resp.Header.Get("Content-Type") != "application/octet-stream" ||
				resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "private, max-age=3600":
				errs <- "status " + strconv.Itoa(resp.StatusCode) + ", headers " + strconv.Quote(strings.Join([]string{
					resp.Header.Get("Content-Length"), resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"),
					resp.Header.Get("Cache-Control")}, " | "))
			case !bytes.Equal(h.Sum(nil), want[:]):
				errs <- "the file served differs from the file stored"
			}
		}()
	}
	started.Wait() // every reader is mid-file
	runtime.ReadMemStats(&during)
	close(release)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	inuse := int64(during.HeapInuse) - int64(before.HeapInuse)
	total := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d readers of %d MiB: heap in use grew %d KiB, %d KiB allocated in all", readers, size>>20, inuse>>10, total>>10)
	if inuse > size || total > 2*size {
		t.Fatalf("%d readers of a %d MiB file: heap in use grew %d MiB, %d MiB allocated; want a small fraction of %d MiB",
			readers, size>>20, inuse>>20, total>>20, readers*size>>20)
	}
}

// The media route's rules are unchanged by streaming: a tampered or
// expired link is 403, a file gone is 404, each with nothing of the file.
func TestMediaRouteRefusals(t *testing.T) {
	base, c := mediaServer(t)
	a := c.Put(context.Background(), "small/0", strings.NewReader("JPEGBYTES"), normalize.Attachment{ContentType: "image/jpeg"})
	u, _ := url.Parse(a.URL)
	q := u.Query()
	expired := c.SignedURL("small/0")
	eu, _ := url.Parse(expired)
	eq := eu.Query()
	eq.Set("expires", strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))
	get := func(link string) (int, string) {
		resp, err := http.Get(local(base, link))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, b := get(a.URL); s != 200 || b != "JPEGBYTES" {
		t.Fatalf("signed link: %d %q", s, b)
	}
	q.Set("sig", "00"+q.Get("sig")[2:])
	for name, link := range map[string]string{
		"tampered":     "https://gw.example.com/media/small/0?" + q.Encode(),
		"expired":      "https://gw.example.com/media/small/0?" + eq.Encode(),
		"another file": strings.Replace(a.URL, "small/0", "small/1", 1),
		"unsigned":     "https://gw.example.com/media/small/0",
	} {
		if s, b := get(link); s != http.StatusForbidden || strings.Contains(b, "JPEG") {
			t.Errorf("%s link: %d %q, want 403", name, s, b)
		}
	}
	if err := c.Forget(context.Background(), "small/0"); err != nil {
		t.Fatal(err)
	}
	if s, _ := get(a.URL); s != http.StatusNotFound {
		t.Errorf("a file gone: %d, want 404", s)
	}
}
