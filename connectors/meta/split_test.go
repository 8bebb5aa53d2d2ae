package meta_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// What Split makes of a reply, as the Graph API fake takes it.
func TestSplit(t *testing.T) {
	fake := providertest.NewMeta(t)
	s := newSender(t, fake)
	img := normalize.Attachment{URL: "https://media.example.com/p.jpg", ContentType: "image/jpeg"}
	pdf := normalize.Attachment{URL: "https://media.example.com/i.pdf", ContentType: "application/pdf", Filename: "invoice.pdf"}
	ogg := normalize.Attachment{URL: "https://media.example.com/v.ogg", ContentType: "audio/ogg"}
	long := strings.Repeat("a", 1025)
	wa, fb := "whatsapp", "messenger"
	for name, c := range map[string]struct {
		channel string
		text    string
		atts    []normalize.Attachment
		want    []string // text|attachment URLs of each send
	}{
		"whatsapp text":                    {wa, "hi", nil, []string{"hi|"}},
		"whatsapp image with caption":      {wa, "look", []normalize.Attachment{img}, []string{"look|" + img.URL}},
		"whatsapp text and audio":          {wa, "listen", []normalize.Attachment{ogg}, []string{"listen|", "|" + ogg.URL}},
		"whatsapp text too long a caption": {wa, long, []normalize.Attachment{img}, []string{long + "|", "|" + img.URL}},
		"whatsapp text and two files":      {wa, "both", []normalize.Attachment{img, pdf}, []string{"both|" + img.URL, "|" + pdf.URL}},
		"whatsapp two files":               {wa, "", []normalize.Attachment{img, pdf}, []string{"|" + img.URL, "|" + pdf.URL}},
		"messenger image":                  {fb, "", []normalize.Attachment{img}, []string{"|" + img.URL}},
		"messenger text and image":         {fb, "look", []normalize.Attachment{img}, []string{"look|", "|" + img.URL}},
		"instagram text and two files":     {"instagram", "both", []normalize.Attachment{img, pdf}, []string{"both|", "|" + img.URL, "|" + pdf.URL}},
	} {
		t.Run(name, func(t *testing.T) {
			m := outbox.Send{MessageID: "0195", Channel: c.channel, Provider: "meta", To: normalize.Party{Address: "16505551234"},
				Text: c.text, Attachments: c.atts, MessagingType: "RESPONSE"}
			parts := s.Split(m)
			var got []string
			for _, p := range parts {
				var urls []string
				for _, a := range p.Attachments {
					urls = append(urls, a.URL)
				}
				got = append(got, p.Text+"|"+strings.Join(urls, ","))
				if p.Channel != m.Channel || p.To != m.To || p.MessagingType != m.MessagingType {
					t.Errorf("part lost its route: %+v", p)
				}
				// Every part is a message the API takes.
				if _, err := s.Send(context.Background(), p); err != nil {
					t.Errorf("part %q: %v", got[len(got)-1], err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("split into %q, want %q", got, c.want)
			}
		})
	}
	tpl := outbox.Send{Channel: wa, To: normalize.Party{Address: "1"}, Template: &normalize.Template{Name: "t", Language: "en"}, Attachments: []normalize.Attachment{img, pdf}}
	if n := len(s.Split(tpl)); n != 1 {
		t.Fatalf("a template split into %d", n)
	}
}

// partsEnv is a gateway core on a store with a WhatsApp conversation, and
// the dispatcher sending through the Meta sender to the Graph API fake.
type partsEnv struct {
	t     *testing.T
	svc   *core.Service
	fake  *providertest.Meta
	conv  string
	store interface {
		ClaimEvents(context.Context, int, func([]core.OutboxEvent) error) (int, error)
	}
}

func newPartsEnv(t *testing.T, dialect string) *partsEnv {
	store := sqltest.Open(t, dialect)
	svc := core.NewService(store, core.Policy{ReopenWindow: time.Hour, AutoCloseAfter: time.Hour},
		core.EventTopics{Events: "events", DLQ: "dlq"}, slog.New(slog.NewTextHandler(io.Discard, nil)), core.NewMetrics(nil))
	// Operators may attach files from media.example.com.
	hosts, err := media.ParseHosts([]string{"media.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetMedia(media.NewCopier(media.Dir{Root: t.TempDir()}, nil, media.Config{PublicURL: "https://gw.example.com",
		Secret: []byte("k"), AttachmentHosts: hosts}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil))
	in := normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelWhatsApp, Provider: meta.ProviderWhatsApp,
		ProviderMessageID: "wamid.IN1", Direction: normalize.Inbound, From: normalize.Party{Kind: "phone", Address: "+16505551234"},
		To: normalize.Party{Kind: "phone", Address: "+15550783881"}, Text: "the recording?", ReceivedAt: time.Now()}
	if _, err := svc.HandleInbound(context.Background(), []core.Inbound{{Message: &in}}); err != nil {
		t.Fatal(err)
	}
	convs, err := svc.ListConversations(context.Background(), core.ConversationFilter{Limit: 1})
	if err != nil || len(convs) != 1 {
		t.Fatalf("conversation: %v %v", convs, err)
	}
	return &partsEnv{t: t, svc: svc, fake: providertest.NewMeta(t), conv: convs[0].ID, store: store}
}

func (e *partsEnv) reply(text string, atts ...normalize.Attachment) core.StoredMessage {
	e.t.Helper()
	m, err := e.svc.Reply(context.Background(), e.conv, core.ReplyRequest{Text: text, Attachments: atts}, core.AgentActor("ann"))
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *partsEnv) message(id string) core.StoredMessage {
	e.t.Helper()
	msgs, err := e.svc.Messages(context.Background(), e.conv)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range msgs {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("message %s not found", id)
	return core.StoredMessage{}
}

// dispatch runs the dispatcher until the message is no longer queued.
func (e *partsEnv) dispatch(sender outbox.Sender, id string) core.StoredMessage {
	e.t.Helper()
	d := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{meta.ProviderWhatsApp: sender},
		outbox.Config{Workers: 2, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Poll: 5 * time.Millisecond, MaxAttempts: 4},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := e.message(id); m.Status != normalize.StatusQueued {
			return m
		}
	}
	e.t.Fatal("the reply is still queued after 10s")
	return core.StoredMessage{}
}

// status is a WhatsApp statuses[] callback for a provider message.
func (e *partsEnv) status(wamid, status string) {
	e.t.Helper()
	st := normalize.Status{Provider: meta.ProviderWhatsApp, ProviderMessageID: wamid, Channel: normalize.ChannelWhatsApp,
		Status: status, ProviderStatus: status, At: time.Now()}
	if _, err := e.svc.HandleInbound(context.Background(), []core.Inbound{{Status: &st}}); err != nil {
		e.t.Fatal(err)
	}
}

// events returns the types of the events published so far.
func (e *partsEnv) events() []string {
	var out []string
	for {
		n, err := e.store.ClaimEvents(context.Background(), 500, func(evs []core.OutboxEvent) error {
			for _, oe := range evs {
				if oe.Topic == "dlq" {
					out = append(out, "dlq")
					continue
				}
				ev, _ := normalize.DecodeEvent(oe.Value)
				out = append(out, ev.Type)
			}
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

// A WhatsApp reply with text and a voice note (which takes no caption) goes
// as two messages in order, one message record; its state is the worst of
// its parts' as their statuses come in. On both stores.
func TestSplitReplyStatusIsTheWorstOfItsParts(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newPartsEnv(t, dialect)
			ogg := normalize.Attachment{URL: "https://media.example.com/v.ogg", ContentType: "audio/ogg"}
			m := e.reply("Here is the recording", ogg)
			if got := e.dispatch(newSender(t, e.fake), m.ID); got.Status != normalize.StatusSent {
				t.Fatalf("after the sends: %s %+v", got.Status, got.Error)
			}
			sent := e.fake.Messages()
			if len(sent) != 2 || sent[0].Body["type"] != "text" || sent[1].Body["type"] != "audio" {
				t.Fatalf("the Graph API took %+v", sent)
			}
			if sent[0].Body["biz_opaque_callback_data"] != core.PartID(m.ID, 0) || sent[1].Body["biz_opaque_callback_data"] != core.PartID(m.ID, 1) {
				t.Fatalf("parts sent as %v and %v", sent[0].Body["biz_opaque_callback_data"], sent[1].Body["biz_opaque_callback_data"])
			}
			steps := []struct {
				part   int
				status string
				want   string
			}{
				{1, "delivered", "sent"}, // the text is only sent
				{0, "read", "delivered"}, // the voice note is only delivered
				{1, "read", "read"},      // both read
				{0, "delivered", "read"}, // never backwards
				{1, "failed", "read"},    // a read part does not fail
			}
			for _, s := range steps {
				e.status(sent[s.part].ID, s.status)
				if got := e.message(m.ID).Status; got != s.want {
					t.Fatalf("part %d %s: the reply is %s, want %s", s.part, s.status, got, s.want)
				}
			}
			if got := strings.Join(e.events(), " "); !strings.HasSuffix(got, "message.queued message.sent message.delivered message.read") {
				t.Fatalf("events %s", got)
			}
		})
	}
}

// failSecond makes the Graph API fake refuse sends from the second on, as
// scripted: a retry sends only the part not taken yet, and a part refused
// for good fails the reply.
type failSecond struct {
	*meta.Sender
	fake *providertest.Meta
	mu   sync.Mutex
	n    int
}

func (f *failSecond) Send(ctx context.Context, s outbox.Send) (outbox.Result, error) {
	f.mu.Lock()
	f.n++
	switch f.n {
	case 2:
		f.fake.FailNext(1, 500, "", nil)
	case 3:
		f.fake.FailNext(1, 400, providertest.MetaErrorBody(131053, 0, "(#131053) Media upload error", "OAuthException"), nil)
	}
	f.mu.Unlock()
	return f.Sender.Send(ctx, s)
}

func TestSplitReplyPartFails(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newPartsEnv(t, dialect)
			ogg := normalize.Attachment{URL: "https://media.example.com/v.ogg", ContentType: "audio/ogg"}
			m := e.reply("Here is the recording", ogg)
			got := e.dispatch(&failSecond{Sender: newSender(t, e.fake), fake: e.fake}, m.ID)
			if got.Status != normalize.StatusFailed || got.Error == nil || got.Error.ProviderCode != "131053" {
				t.Fatalf("the reply is %s %+v, want failed with 131053", got.Status, got.Error)
			}
			var types []string
			for _, r := range e.fake.Requests() {
				types = append(types, fmt.Sprint(r.JSON["type"]))
			}
			// The text once; the voice note refused (500), retried alone, refused for good.
			if fmt.Sprint(types) != "[text audio audio]" || len(e.fake.Messages()) != 1 {
				t.Fatalf("requests %v, accepted %d", types, len(e.fake.Messages()))
			}
			// A late status of the part that went does not revive the reply.
			e.status(e.fake.Messages()[0].ID, "delivered")
			if st := e.message(m.ID).Status; st != normalize.StatusFailed {
				t.Fatalf("after a status of the sent part: %s", st)
			}
			if evs := strings.Join(e.events(), " "); !strings.Contains(evs, "message.failed dlq") || strings.Contains(evs, "message.sent") {
				t.Fatalf("events %s", evs)
			}
		})
	}
}
