package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/core/sqlstore"
)

// A Messenger or Instagram attachment is a link to Meta's CDN that expires:
// the gateway copies the file into its media store before the message
// reaches events.v1, so message.received links to the copy (a signed
// /media/… URL) and the file stays readable after Meta's link is gone.
func TestMessengerAttachmentsAreCopied(t *testing.T) {
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v/t1.15752-9/cat.png" || r.URL.Query().Get("oh") != "00_AfB" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG a cat"))
	}))
	defer cdn.Close()
	// The fake CDN is on loopback: named exactly, as an operator would a proxy.
	g := startGateway(t, sqlstore.SQLite, map[string]string{"META_APP_SECRET": metaSecret, "META_VERIFY_TOKEN": metaVerify,
		"GATEWAY_MEDIA_ALLOWED_HOSTS": strings.TrimPrefix(cdn.URL, "http://")})
	link := regexp.MustCompile(`^` + regexp.QuoteMeta(testPublic) + `/media/[^?]+\?expires=[0-9]+&sig=[0-9a-f]+$`)
	for i, object := range []string{"page", "instagram"} {
		body := []byte(fmt.Sprintf(`{"object":%q,"entry":[{"id":"682498302938465","time":%d,"messaging":[{"sender":{"id":"527581170247183%d"},"recipient":{"id":"682498302938465"},"timestamp":%d,"message":{"mid":"mid.attachment-%d","attachments":[{"type":"image","payload":{"url":"%s/v/t1.15752-9/cat.png?_nc_cat=1&oh=00_AfB"}}]}}]}]}`,
			object, time.Now().UnixMilli(), i, time.Now().UnixMilli(), i, cdn.URL))
		if s, b := postMeta(t, g, "/webhooks/messenger", body, meta.Sign(metaSecret, body)); s != http.StatusOK {
			t.Fatalf("%s: %d %s", object, s, b)
		}
		evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == i+1 })
		msg := ofType(evs, "message.received")[i].Data["message"].(map[string]any)
		atts, _ := msg["attachments"].([]any)
		if len(atts) != 1 {
			t.Fatalf("%s: attachments %v", object, msg["attachments"])
		}
		a := atts[0].(map[string]any)
		u, _ := a["url"].(string)
		if a["status"] != "stored" || !link.MatchString(u) || a["content_type"] != "image/png" || a["size"].(float64) != 10 {
			t.Fatalf("%s: attachment %v", object, a)
		}
		resp, err := http.Get("http://" + g.Addr() + strings.TrimPrefix(u, testPublic))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "\x89PNG a cat" {
			t.Fatalf("%s: GET the copy: %d %q", object, resp.StatusCode, b)
		}
	}
}
