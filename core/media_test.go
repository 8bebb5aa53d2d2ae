package core_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/normalize"
)

// picture is a provider whose every file is a JPEG.
type picture struct{}

func (picture) Fetch(context.Context, string) (io.ReadCloser, string, error) {
	return io.NopCloser(strings.NewReader("JPEG")), "image/jpeg", nil
}

// withMedia gives the engine a media store behind a public URL with a path,
// where operators may attach files from files.shop.example.
func (e *env) withMedia(t *testing.T) (*media.Copier, media.Dir) {
	dir := media.Dir{Root: t.TempDir()}
	hosts, err := media.ParseHosts([]string{"files.shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	c := media.NewCopier(dir, map[string]media.Fetcher{"twilio": picture{}},
		media.Config{PublicURL: "https://gw.example.com/support", Secret: []byte("k"), AttachmentHosts: hosts},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	e.svc.SetMedia(c)
	return c, dir
}

// mmsFrom is a customer's message with a picture, copied into the store.
func (e *env) mmsFrom(t *testing.T, from string) (normalize.Message, string) {
	m := sms(from, "a picture")
	m.Attachments = []normalize.Attachment{{ProviderRef: "https://api.twilio.com/2010-04-01/Media/ME1", Status: "pending"}}
	if err := e.svc.CopyMedia(ctx, &m); err != nil {
		t.Fatal(err)
	}
	if m.Attachments[0].Status != "stored" {
		t.Fatalf("attachment %+v", m.Attachments[0])
	}
	e.receive(m)
	return m, m.Attachments[0].URL
}

func stored(t *testing.T, c *media.Copier, dir media.Dir, link string) bool {
	t.Helper()
	key, ok := c.Key(link)
	if !ok {
		t.Fatalf("%s is not a media link", link)
	}
	f, _, err := dir.Open(ctx, key)
	if err == nil {
		f.Close()
	}
	return err == nil
}

// Erasure removes the customer's files, with a path in the public URL.
func TestEraseCustomerRemovesFiles(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		c, dir := e.withMedia(t)
		_, link := e.mmsFrom(t, "+14155550101")
		if !strings.HasPrefix(link, "https://gw.example.com/support/media/") || !stored(t, c, dir, link) {
			t.Fatalf("link %s", link)
		}
		cust := must[core.Customer](t)(e.svc.Customers().FindCustomer(ctx, "+14155550101"))
		if err := e.svc.Customers().EraseCustomer(ctx, cust.ID, "admin:root"); err != nil {
			t.Fatal(err)
		}
		if stored(t, c, dir, link) {
			t.Error("the customer's file is still stored after erasure")
		}
	})
}

// An operator's reply may attach the customer's own files (by their gateway
// links) and URLs on GATEWAY_MEDIA_ALLOWED_HOSTS. Another customer's file is
// refused with 422, nothing is queued, and erasing this customer leaves the
// other's file alone.
func TestReplyAttachments(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		c, dir := e.withMedia(t)
		_, bobLink := e.mmsFrom(t, "+14155550102")
		_, annLink := e.mmsFrom(t, "+14155550101")
		ann, bob := e.conversationOf("+14155550101"), e.conversationOf("+14155550102")
		e.events()
		reply := func(conv string, atts ...normalize.Attachment) (core.StoredMessage, error) {
			return e.svc.Reply(ctx, conv, core.ReplyRequest{Text: "here", Attachments: atts}, core.AgentActor("eve"))
		}

		for name, a := range map[string]normalize.Attachment{
			"another customer's file":                {URL: bobLink, ContentType: "image/jpeg"},
			"another customer's file, said stored":   {URL: bobLink, Status: "stored"},
			"another customer's file, other address": {URL: strings.Replace(bobLink, "gw.example.com/support", "evil.example", 1)},
			"a host not allowed":                     {URL: "https://evil.example/x.jpg"},
			"an internal address":                    {URL: "http://169.254.169.254/latest/meta-data"},
		} {
			if _, err := reply(ann.ID, a); core.ErrorCode(err) != core.EUNPROCESSABLE {
				t.Errorf("%s: %v, want 422", name, err)
			}
		}
		if evs := e.events(); len(evs) != 0 {
			t.Errorf("refused replies emitted %v", types(evs))
		}

		// Allowed: the customer's own file (its link signed afresh) and a
		// URL on an allowed host; neither is recorded as a stored file.
		m, err := reply(ann.ID, normalize.Attachment{URL: annLink, ContentType: "image/jpeg"},
			normalize.Attachment{URL: "https://files.shop.example/brochure.pdf", Status: "stored", ProviderRef: "x", Error: "y", ContentType: "application/pdf"})
		if err != nil {
			t.Fatal(err)
		}
		own, ext := m.Message.Attachments[0], m.Message.Attachments[1]
		if key, ok := c.Key(own.URL); !ok || key != must[string](t)(keyOf(c, annLink)) || own.Status != "" || own.ContentType != "image/jpeg" {
			t.Errorf("own file attached as %+v", own)
		}
		if ext != (normalize.Attachment{URL: "https://files.shop.example/brochure.pdf", ContentType: "application/pdf"}) {
			t.Errorf("outside file attached as %+v", ext)
		}
		if _, err := reply(bob.ID, normalize.Attachment{URL: bobLink}); err != nil {
			t.Errorf("bob's own file: %v", err)
		}

		// Erasing Ann removes her file, not Bob's.
		cust := must[core.Customer](t)(e.svc.Customers().FindCustomer(ctx, "+14155550101"))
		if err := e.svc.Customers().EraseCustomer(ctx, cust.ID, "admin:root"); err != nil {
			t.Fatal(err)
		}
		if stored(t, c, dir, annLink) || !stored(t, c, dir, bobLink) {
			t.Errorf("after erasing ann: her file stored %v, bob's %v", stored(t, c, dir, annLink), stored(t, c, dir, bobLink))
		}
	})
}

func keyOf(c *media.Copier, link string) (string, error) {
	key, ok := c.Key(link)
	if !ok {
		return "", core.Errorf(core.EINVALID, "%s is not a media link", link)
	}
	return key, nil
}

// Without a media store, a reply cannot attach anything.
func TestReplyAttachmentsNeedMedia(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite, core.Policy{})
	e.receive(sms("+14155550101", "hi"))
	_, err := e.svc.Reply(ctx, e.conversationOf("+14155550101").ID,
		core.ReplyRequest{Attachments: []normalize.Attachment{{URL: "https://files.shop.example/a.pdf"}}}, core.AgentActor("eve"))
	if core.ErrorCode(err) != core.EUNPROCESSABLE {
		t.Errorf("reply: %v, want 422", err)
	}
}

// Deleting a conversation deletes its stored files, and only its own.
func TestDeleteConversationRemovesFiles(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		c, dir := e.withMedia(t)
		_, annLink := e.mmsFrom(t, "+14155550101")
		_, bobLink := e.mmsFrom(t, "+14155550102")
		if err := e.svc.DeleteConversation(ctx, e.conversationOf("+14155550101").ID, "admin:root"); err != nil {
			t.Fatal(err)
		}
		if stored(t, c, dir, annLink) || !stored(t, c, dir, bobLink) {
			t.Errorf("after deleting ann's conversation: her file stored %v, bob's %v", stored(t, c, dir, annLink), stored(t, c, dir, bobLink))
		}
	})
}

// A provider's redelivery of a message (a new message id, the same
// provider id) copies its files to the same keys: one copy, one message.
// A dropped duplicate's file under any other key (an email resent under
// the same Message-ID with another file, or a copy an older version made)
// is deleted; the kept message's file stays.
func TestRedeliveryKeepsOneCopy(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		c, dir := e.withMedia(t)
		first, link := e.mmsFrom(t, "+14155550101")
		again := first
		again.MessageID = normalize.NewID()
		again.Attachments = []normalize.Attachment{{ProviderRef: "https://api.twilio.com/2010-04-01/Media/ME1", Status: "pending"}}
		if err := e.svc.CopyMedia(ctx, &again); err != nil {
			t.Fatal(err)
		}
		if got := must[string](t)(keyOf(c, again.Attachments[0].URL)); got != must[string](t)(keyOf(c, link)) {
			t.Errorf("the redelivery's file is under %s, the first's under %s", got, must[string](t)(keyOf(c, link)))
		}
		other := first
		other.MessageID = normalize.NewID()
		other.Attachments = []normalize.Attachment{c.Put(ctx, "2026/11/02/"+other.MessageID+"/0", strings.NewReader("OTHER"),
			normalize.Attachment{ContentType: "image/jpeg"})}
		if res := e.receive(again, other); res[0] != core.ResultDuplicate || res[1] != core.ResultDuplicate {
			t.Fatalf("results %v, want two duplicates", res)
		}
		if !stored(t, c, dir, link) || stored(t, c, dir, other.Attachments[0].URL) {
			t.Errorf("kept message's file stored %v (want true), the duplicate's other file %v (want false)",
				stored(t, c, dir, link), stored(t, c, dir, other.Attachments[0].URL))
		}
		if n := len(must[[]core.StoredMessage](t)(e.svc.Messages(ctx, e.conversationOf("+14155550101").ID))); n != 1 {
			t.Errorf("%d messages, want 1", n)
		}
	})
}
