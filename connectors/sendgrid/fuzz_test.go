package sendgrid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/connectortest"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// inboundFiles are the Inbound Parse requests of testdata/ (default and raw mode).
func inboundFiles(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "inbound_*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no inbound payloads in testdata: %v", err)
	}
	var out [][]byte
	for _, p := range files {
		out = append(out, read(f, filepath.Base(p)))
	}
	return out
}

// discardMedia keeps nothing and reports each file stored, like a media store that works.
type discardMedia struct{}

func (discardMedia) Put(_ context.Context, key string, r io.Reader, a normalize.Attachment) normalize.Attachment {
	n, _ := io.Copy(io.Discard, r)
	a.Status, a.URL, a.Size = "stored", "https://gw.example.com/media/"+key, n
	return a
}

// checkInbound is the contract of an authorized Inbound Parse request: no
// panic, a refusal is ErrMalformed, an accepted email is one valid
// message.received event whose attachments are the files received.
func checkInbound(t *testing.T, body []byte) {
	t.Helper()
	r := inboundRequest(body, inboundUser, inboundPass)
	res, err := Inbound{User: inboundUser, Password: inboundPass, Media: discardMedia{}}.Handle(context.Background(), r)
	if err != nil {
		if !errors.Is(err, webhook.ErrMalformed) {
			t.Fatalf("error %v, want ErrMalformed", err)
		}
		return
	}
	if len(res.Events) != 1 {
		t.Fatalf("accepted with %d events", len(res.Events))
	}
	m := connectortest.CheckEvent(t, res.Events[0]).(normalize.Message)
	_, files, err := ParseInbound(r)
	if err != nil {
		t.Fatalf("handler accepted what ParseInbound refuses: %v", err)
	}
	if len(m.Attachments) != len(files) || len(files) > maxAttachments {
		t.Fatalf("%d attachments for %d files", len(m.Attachments), len(files))
	}
	for i, a := range m.Attachments {
		if a.Size != int64(len(files[i].Data)) || a.Status != "stored" {
			t.Fatalf("attachment %d: %+v for %d bytes", i, a, len(files[i].Data))
		}
	}
}

// FuzzInboundMultipart fuzzes the whole multipart/form-data body of Inbound
// Parse (both modes), with valid basic auth.
func FuzzInboundMultipart(f *testing.F) {
	for _, b := range inboundFiles(f) {
		f.Add(b)
	}
	f.Add([]byte("--xYzZY\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\na@b.c\r\n--xYzZY\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nc@d.e\r\n--xYzZY--\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) { checkInbound(t, body) })
}

// FuzzInboundRaw fuzzes the raw MIME email of raw mode: the fuzzed bytes are
// the "email" field of a well-formed request, so the mutations reach the
// MIME walker rather than the outer form.
func FuzzInboundRaw(f *testing.F) {
	for _, b := range inboundFiles(f) {
		fields := formFields(b)
		if raw := fields["email"]; raw != "" {
			f.Add([]byte(raw))
			continue
		}
		// A default-mode request: its headers and text make a raw email.
		f.Add([]byte(strings.TrimRight(fields["headers"], "\r\n") + "\r\n\r\n" + fields["text"]))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n" +
		"Content-Disposition: attachment; filename=\"=?UTF-8?B?w6k=?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--c--\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, email []byte) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		if err := w.SetBoundary("xYzZY"); err != nil {
			t.Fatal(err)
		}
		for _, kv := range [][2]string{{"from", "Carol <carol@example.com>"}, {"to", "support@shop.example"},
			{"envelope", `{"to":["support@shop.example"],"from":"carol@example.com"}`}, {"email", string(email)}} {
			if err := w.WriteField(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		checkInbound(t, buf.Bytes())
	})
}

// formFields reads the text fields of a testdata request.
func formFields(body []byte) map[string]string {
	out := map[string]string{}
	mr := multipart.NewReader(bytes.NewReader(body), "xYzZY")
	for {
		p, err := mr.NextPart()
		if err != nil {
			return out
		}
		b, _ := io.ReadAll(p)
		if p.FileName() == "" {
			out[p.FormName()] = string(b)
		}
	}
}

// FuzzParseEvents fuzzes the Event Webhook batch parser, which runs after
// the ECDSA signature check: a refusal is ErrMalformed, every event of the
// batch is either a status or counted as ignored, and every status makes a
// valid message.status event.
func FuzzParseEvents(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "sendgrid_event_*.bin"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no event payloads in testdata: %v", err)
	}
	for _, p := range files {
		f.Add(read(f, filepath.Base(p)))
	}
	f.Add([]byte(`[{"event":"deferred","sg_message_id":"x.y.z","timestamp":"1513299569","email":"A <A@B.C>","response":"try later"},{"event":"click"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sts, ignored, err := ParseEvents(body)
		if err != nil {
			if !errors.Is(err, webhook.ErrMalformed) || len(sts) != 0 {
				t.Fatalf("error %v with %d statuses, want ErrMalformed and none", err, len(sts))
			}
			return
		}
		var batch []json.RawMessage
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&batch); err != nil {
			t.Fatalf("accepted a body that is not an array: %v", err)
		}
		if ignored < 0 || len(sts)+ignored != len(batch) {
			t.Fatalf("%d statuses and %d ignored from %d events", len(sts), ignored, len(batch))
		}
		for _, st := range sts {
			if st.ProviderMessageID == "" || strings.Contains(st.ProviderMessageID, ".") && !strings.HasPrefix(st.ProviderMessageID, ".") {
				t.Fatalf("provider message id %q", st.ProviderMessageID)
			}
			ev, err := webhook.StatusEvent(source, st)
			if err != nil {
				t.Fatal(err)
			}
			connectortest.CheckEvent(t, ev)
		}
	})
}

// FuzzInboundEntryPoints fuzzes the recipients of an email (the envelope's
// and the To header's) against entry points of an address and a domain:
// no panic, a refusal is ErrMalformed, an email no entry point takes is
// dead-lettered with no event, and an accepted one names an entry point
// whose address or domain is the message's recipient, the exact address
// before its domain.
func FuzzInboundEntryPoints(f *testing.F) {
	f.Add(`{"to":["sales@shop.example"],"from":"a@b.c"}`, "sales@shop.example")
	f.Add(`{"to":["Help@Shop.Example","sales@shop.example"]}`, "")
	f.Add(`{"to":[]}`, "Shop <help@shop.example>, x@else.example")
	f.Add(`{"to":["x@sub.shop.example"]}`, "@shop.example")
	f.Add(`not json`, `"quoted@"@shop.example`)
	eps := NewEntryPoints([]EntryPoint{{ID: "shop", Address: "shop.example"}, {ID: "sales", Address: "sales@shop.example"}})
	f.Fuzz(func(t *testing.T, envelope, to string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		_ = w.SetBoundary("xYzZY")
		for _, kv := range [][2]string{{"from", "bob@example.com"}, {"to", to}, {"envelope", envelope}, {"text", "hi"}} {
			_ = w.WriteField(kv[0], kv[1])
		}
		_ = w.Close()
		r := inboundRequest(b.Bytes(), inboundUser, inboundPass)
		res, err := Inbound{User: inboundUser, Password: inboundPass, Media: discardMedia{}, EntryPoints: eps}.Handle(context.Background(), r)
		switch {
		case err != nil:
			if !errors.Is(err, webhook.ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
			return
		case res.DeadLetter != "":
			if res.DeadLetter != webhook.DeadLetterUnknownEntryPoint || len(res.Events) != 0 {
				t.Fatalf("dead letter %q with %d events", res.DeadLetter, len(res.Events))
			}
			return
		}
		if len(res.Events) != 1 {
			t.Fatalf("accepted with %d events", len(res.Events))
		}
		m := connectortest.CheckEvent(t, res.Events[0]).(normalize.Message)
		addr := strings.ToLower(m.To.Address)
		switch {
		case m.EntryPoint == "sales" && addr == "sales@shop.example":
		case m.EntryPoint == "shop" && strings.HasSuffix(addr, "@shop.example") && addr != "sales@shop.example":
		default:
			t.Fatalf("entry point %q for recipient %q", m.EntryPoint, m.To.Address)
		}
	})
}
