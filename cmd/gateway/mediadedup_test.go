package main

import (
	"encoding/base64"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// Redelivered webhooks leave one copy of an attachment, and deleting the
// conversation or erasing the customer leaves none, on both stores: an
// email posted three times by Inbound Parse (and once more under its
// Message-ID by another sender, with another file) and an MMS posted three
// times by Twilio are one message and one file each; erasing the email's
// customer and deleting the MMS's conversation delete every copy. (Each
// post used to store a file under a new id; the core dropped the
// duplicate messages, so their files outlived erasure.)
func TestRedeliveredAttachmentsKeepOneCopy(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) { redeliveredAttachments(t, dialect) })
	}
}

func redeliveredAttachments(t *testing.T, dialect string) {
	pictures := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write([]byte("\xff\xd8\xff\xe0 a cat"))
	}))
	defer pictures.Close()
	g := startGateway(t, dialect, map[string]string{"TWILIO_API_URL": pictures.URL,
		"GATEWAY_MEDIA_ALLOWED_HOSTS": strings.TrimPrefix(pictures.URL, "http://"),
		"SENDGRID_INBOUND_USER":       "parse", "SENDGRID_INBOUND_PASSWORD": "s3cret", "GATEWAY_API_TOKENS": "admin:ops:admin-token"})
	files := func() int { return countFiles(t, filepath.Join(g.cfg.DataDir, "media")) }

	for i := 0; i < 3; i++ {
		postEmail(t, g, inboundEmail(t, "<dup@example.com>", "bob@example.com", "JPEGBYTES"))
	}
	waitMetric(t, g, `gateway_core_messages_total{entry_point="sendgrid",result="duplicate"} 2`+"\n")
	// Another sender reusing the Message-ID, with another file, later:
	// dropped as a duplicate, its file with it; bob's file is untouched.
	postEmail(t, g, inboundEmail(t, "<dup@example.com>", "mallory@example.com", "FORGEDBYTES"))
	waitMetric(t, g, `gateway_core_messages_total{entry_point="sendgrid",result="duplicate"} 3`+"\n")
	form := smsForm("MM00000000000000000000000000000077", "+14155550101", "look")
	form.Set("NumMedia", "1")
	form.Set("MediaUrl0", pictures.URL+"/2010-04-01/Accounts/ACtest123/Messages/MM77/Media/ME1")
	form.Set("MediaContentType0", "image/jpeg")
	for i := 0; i < 3; i++ {
		if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", form, nil); s != http.StatusOK {
			t.Fatalf("post MMS: %d %s", s, b)
		}
	}
	waitMetric(t, g, `gateway_core_messages_total{entry_point="twilio",result="duplicate"} 2`+"\n")
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
	if n := files(); n != 2 {
		t.Fatalf("%d files stored for one email and one MMS, delivered three times each; want 2", n)
	}
	var email, mms topicEvent
	for _, e := range ofType(evs, "message.received") {
		if e.Data["message"].(map[string]any)["channel"] == "email" {
			email = e
		} else {
			mms = e
		}
	}
	att := email.Data["message"].(map[string]any)["attachments"].([]any)[0].(map[string]any)
	resp, err := http.Get("http://" + g.Addr() + strings.TrimPrefix(att["url"].(string), testPublic))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "JPEGBYTES" {
		t.Fatalf("the email's attachment is %q after the forged redelivery", got)
	}

	adminDelete(t, g, "/v1/customers/"+email.Data["customer_id"].(string))
	if n := files(); n != 1 {
		t.Fatalf("%d files after erasing the email's customer, want 1 (the MMS's)", n)
	}
	adminDelete(t, g, "/v1/conversations/"+mms.Data["conversation_id"].(string))
	if n := files(); n != 0 {
		t.Fatalf("%d files after deleting the MMS's conversation, want 0", n)
	}
}

// inboundEmail is an Inbound Parse body of one email with one attachment.
func inboundEmail(t *testing.T, messageID, from, attachment string) []byte {
	t.Helper()
	body, err := os.ReadFile("../../connectors/sendgrid/testdata/inbound_attachment.txt")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(body), "Photo attached.", "Photo attached.\r\n--xYzZY\r\nContent-Disposition: form-data; name=\"headers\"\r\n\r\n"+
		"Message-ID: "+messageID+"\r\nSubject: Damaged item\r\n", 1)
	s = strings.Replace(s, "bob@example.com", from, 1)
	return []byte(strings.Replace(s, "JPEGBYTES", attachment, 1))
}

func postEmail(t *testing.T, g *Gateway, body []byte) {
	t.Helper()
	hdr := map[string]string{"Content-Type": "multipart/form-data; boundary=xYzZY",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("parse:s3cret"))}
	if s, b := post(t, g, "/webhooks/sendgrid/inbound", body, hdr); s != http.StatusOK {
		t.Fatalf("inbound parse: %d %s", s, b)
	}
}

func adminDelete(t *testing.T, g *Gateway, path string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+g.Addr()+path, nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("DELETE %s: %d %s", path, resp.StatusCode, b)
	}
}

// countFiles counts the files kept under root (not the ones being written).
func countFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".part-") {
			n++
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return n
}
