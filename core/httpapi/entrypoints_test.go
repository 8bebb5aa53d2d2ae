package httpapi_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/normalize"
)

// whatsAppCloud is a customer's message through the WhatsApp Cloud API.
func whatsAppCloud(from, text string) normalize.Message {
	m := sms(from, text)
	m.Channel, m.Provider, m.ProviderMessageID = normalize.ChannelWhatsApp, "meta_whatsapp", "wamid."+m.ProviderMessageID
	m.To = normalize.Party{Kind: normalize.KindPhone, Address: "106540352242922"}
	return m
}

// webChat is a visitor's message on the web chat.
func webChat(visitor, text string) normalize.Message {
	m := sms("", text)
	m.Channel, m.Provider, m.ProviderMessageID = normalize.ChannelChat, "webchat", ""
	m.From = normalize.Party{Kind: normalize.KindChat, Address: visitor}
	m.To = normalize.Party{Kind: normalize.KindChat, Address: "support"}
	return m
}

// Seeds' model: the to-do filter entry_point= lists the conversations that
// started at one entry point (derived without an entry points file: one per
// provider kind), alone or with status and assignee; the conversation and
// its conversation.created event carry it, and a reopen keeps it.
func TestConversationsFilterByEntryPoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		tokens := map[string]string{annToken: "agent:ann", bobToken: "agent:bob", opsToken: "admin:ops", adminToken: httpapi.RoleAdmin}
		// Proactive WhatsApp leaves through Twilio here.
		senders := map[string]core.BusinessAddress{normalize.ChannelWhatsApp: {
			Party: normalize.Party{Kind: normalize.KindPhone, Address: "+15558675310"}, Provider: "twilio"}}
		e := newAPIEnvWith(t, dialect, core.Policy{Senders: senders}, tokens, nil)
		twilioWA := sms("+14155550104", "on WhatsApp through Twilio")
		twilioWA.Channel = normalize.ChannelWhatsApp
		e.receive(sms("+14155550101", "by SMS"), whatsAppCloud("+14155550102", "on the Cloud API"),
			webChat("visitor-1", "on the site"), twilioWA)
		_, smsConv := e.customer("+14155550101")
		_, cloudConv := e.customer("+14155550102")
		_, chatConv := e.customer("visitor-1")
		_, twilioWAConv := e.customer("+14155550104")
		created := map[string]string{}
		for _, d := range e.eventData(e.events(), normalize.TypeConversationCreated) {
			created[d.ConversationID] = d.EntryPoint
			if d.Conversation == nil || d.Conversation.EntryPoint != d.EntryPoint {
				t.Errorf("conversation.created of %s: data.entry_point %q, conversation %+v", d.ConversationID, d.EntryPoint, d.Conversation)
			}
		}
		wantCreated := map[string]string{smsConv: "twilio", cloudConv: "whatsapp", chatConv: "webchat", twilioWAConv: "twilio"}
		if !maps.Equal(created, wantCreated) {
			t.Errorf("conversation.created entry points %v, want %v", created, wantCreated)
		}
		e.must(e.do("POST", "/v1/conversations/"+smsConv+"/assign", opsToken, map[string]any{"agent": "ann"}), 200)
		for q, want := range map[string][]string{
			"?entry_point=twilio":                          {smsConv, twilioWAConv},
			"?entry_point=whatsapp":                        {cloudConv},
			"?entry_point=webchat":                         {chatConv},
			"?entry_point=sendgrid":                        {},
			"?entry_point=no-such-entry-point":             {},
			"?entry_point=twilio&status=new":               {twilioWAConv},
			"?entry_point=twilio&assignee=ann":             {smsConv},
			"?entry_point=whatsapp&assignee=ann":           {},
			"?entry_point=twilio&channel=whatsapp":         {twilioWAConv},
			"?entry_point=whatsapp&unreplied=true&limit=1": {cloudConv},
		} {
			if got := ids(e.list(bobToken, q)); !slices.Equal(got, sorted(want...)) {
				t.Errorf("%s: %v, want %v", q, got, sorted(want...))
			}
		}
		var one core.Conversation
		if err := json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+cloudConv, bobToken, nil), 200).body, &one); err != nil || one.EntryPoint != "whatsapp" {
			t.Errorf("GET the Cloud API conversation: entry_point %q (%v), want whatsapp", one.EntryPoint, err)
		}

		// Closed, then reopened by the customer writing through Twilio: it
		// keeps the entry point it started at.
		e.must(e.do("POST", "/v1/conversations/"+cloudConv+"/status", opsToken, map[string]any{"status": "closed"}), 200)
		e.clock.Advance(time.Hour)
		again := sms("+14155550102", "me again, through Twilio")
		again.Channel = normalize.ChannelWhatsApp
		e.receive(again)
		if _, c := e.customer("+14155550102"); c != cloudConv {
			t.Fatalf("the customer's message made %s, want %s reopened", c, cloudConv)
		}
		if got := ids(e.list(bobToken, "?entry_point=whatsapp")); !slices.Equal(got, []string{cloudConv}) {
			t.Errorf("after the reopen through Twilio, whatsapp lists %v, want %s", got, cloudConv)
		}

		// A conversation the business opens starts at the entry point of the
		// channel's sender.
		smsCustomer, _ := e.customer("+14155550101")
		e.must(e.do("POST", "/v1/conversations/"+smsConv+"/status", opsToken, map[string]any{"status": "closed"}), 200)
		r := e.must(e.do("POST", "/v1/conversations", annToken, map[string]any{"customer_id": smsCustomer, "channel": "whatsapp"}), 201)
		if err := json.Unmarshal(r.body, &one); err != nil || one.EntryPoint != "twilio" {
			t.Errorf("opened on WhatsApp sent through Twilio: entry_point %q (%v), want twilio\n%s", one.EntryPoint, err, r.body)
		}

		for _, q := range []string{"Twilio", "sms_twilio", "twilio%20", "%C3%A9", strings.Repeat("a", core.MaxEntryPointLen+1)} {
			if r := e.do("GET", "/v1/conversations?entry_point="+q, bobToken, nil); r.status != 400 || r.code() != "invalid" {
				t.Errorf("entry_point=%s: %d %s, want 400 invalid", q, r.status, r.body)
			}
		}
		if got := ids(e.list(bobToken, "?entry_point="+strings.Repeat("a", core.MaxEntryPointLen))); len(got) != 0 {
			t.Errorf("the longest entry point id lists %v, want none", got)
		}
	})
}

// An admin lists the entry points with whether their webhooks are on and
// the time of the latest customer message of the conversations that
// started there (from the database, on both stores); an agent is refused.
func TestEntryPointList(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		eps := []core.EntryPoint{
			{ID: "twilio", Provider: "twilio", Address: "+15558675310", Inbox: "default", Routing: "none", Default: true, Enabled: true},
			{ID: "whatsapp", Provider: "whatsapp", Inbox: "default", Routing: "none", Default: true, Enabled: false},
			{ID: "webchat", Provider: "webchat", Inbox: "support", Routing: "round_robin", Agents: []string{"ann", "bob"}, Enabled: true},
		}
		e := newAPIEnv(t, dialect, func(a *httpapi.API) { a.SetEntryPoints(eps) })
		e.receive(sms("+14155550101", "first"))
		e.clock.Advance(time.Minute)
		e.receive(sms("+14155550102", "later"))
		lastSMS := e.clock.Now()
		e.clock.Advance(time.Minute)
		e.receive(webChat("visitor-1", "hello"))
		lastChat := e.clock.Now()

		if r := e.do("GET", "/v1/entry-points", agentToken, nil); r.status != 403 || r.code() != "forbidden" {
			t.Errorf("agent: %d %s", r.status, r.body)
		}
		r := e.do("GET", "/v1/entry-points", adminToken, nil)
		if r.status != 200 {
			t.Fatalf("admin: %d %s", r.status, r.body)
		}
		var got struct {
			EntryPoints []struct {
				ID, Provider, Address, Inbox, Routing string
				Agents                                []string
				Default, Enabled                      bool
				LastWebhookAt                         *time.Time `json:"last_webhook_at"`
			} `json:"entry_points"`
		}
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.EntryPoints) != 3 {
			t.Fatalf("body %s", r.body)
		}
		tw, wa, chat := got.EntryPoints[0], got.EntryPoints[1], got.EntryPoints[2]
		if tw.ID != "twilio" || !tw.Enabled || !tw.Default || tw.Address != "+15558675310" || tw.LastWebhookAt == nil || !tw.LastWebhookAt.Equal(lastSMS) {
			t.Errorf("twilio %+v, want last webhook %v", tw, lastSMS)
		}
		if wa.Enabled || wa.LastWebhookAt != nil || wa.Agents == nil {
			t.Errorf("whatsapp %+v", wa)
		}
		if chat.Inbox != "support" || chat.Routing != "round_robin" || !slices.Equal(chat.Agents, []string{"ann", "bob"}) ||
			chat.LastWebhookAt == nil || !chat.LastWebhookAt.Equal(lastChat) {
			t.Errorf("webchat %+v, want last webhook %v", chat, lastChat)
		}
	})
}

// A message that names its entry point starts its conversation there (not
// at the one derived from its provider), in that entry point's inbox; a
// customer's presets win over the entry point's inbox.
func TestConversationStartsAtTheMessagesEntryPoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		tokens := map[string]string{annToken: "agent:ann", opsToken: "admin:ops"}
		policy := core.Policy{EntryPointInboxes: map[string]string{"support-uk": "uk", "twilio": "us"}}
		e := newAPIEnvWith(t, dialect, policy, tokens, nil)
		uk := sms("+447700900555", "hello UK")
		uk.EntryPoint = "support-uk"
		e.receive(uk, sms("+14155550101", "hello US"))
		var one core.Conversation
		for addr, want := range map[string][2]string{"+447700900555": {"support-uk", "uk"}, "+14155550101": {"twilio", "us"}} {
			_, conv := e.customer(addr)
			if err := json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv, annToken, nil), 200).body, &one); err != nil ||
				one.EntryPoint != want[0] || one.Inbox != want[1] {
				t.Errorf("%s: entry point %q inbox %q (%v), want %v", addr, one.EntryPoint, one.Inbox, err, want)
			}
		}
		if got := ids(e.list(annToken, "?entry_point=support-uk")); len(got) != 1 {
			t.Errorf("entry_point=support-uk lists %v", got)
		}

		// Presets win: the customer's preset inbox replaces the entry point's.
		customer, conv := e.customer("+447700900555")
		e.must(e.do("PUT", "/v1/customers/"+customer+"/presets", annToken, map[string]any{"inbox": "vip"}), 200)
		e.must(e.do("POST", "/v1/conversations/"+conv+"/status", opsToken, map[string]any{"status": "closed"}), 200)
		e.clock.Advance(30 * 24 * time.Hour)
		again := sms("+447700900555", "back after a month")
		again.EntryPoint = "support-uk"
		e.receive(again)
		_, conv2 := e.customer("+447700900555")
		if err := json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv2, annToken, nil), 200).body, &one); err != nil ||
			conv2 == conv || one.EntryPoint != "support-uk" || one.Inbox != "vip" {
			t.Errorf("with presets: %s (was %s) entry point %q inbox %q (%v), want support-uk in vip", conv2, conv, one.EntryPoint, one.Inbox, err)
		}
	})
}

// Conversations customers start at an entry point with round_robin
// routing are assigned to its agents in turn, in its inbox (reason
// round_robin, actor system:routing); a customer's preset assignee wins, and
// another entry point's conversations are not routed.
func TestEntryPointRoundRobin(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		tokens := map[string]string{annToken: "agent:ann", opsToken: "admin:ops"}
		policy := core.Policy{EntryPointInboxes: map[string]string{"support-uk": "uk"},
			EntryPointAgents: map[string][]string{"support-uk": {"ann", "bob"}}}
		e := newAPIEnvWith(t, dialect, policy, tokens, nil)
		var got []string
		for _, from := range []string{"+447700900501", "+447700900502", "+447700900503"} {
			m := sms(from, "hello")
			m.EntryPoint = "support-uk"
			e.receive(m)
			_, conv := e.customer(from)
			var one core.Conversation
			if err := json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv, annToken, nil), 200).body, &one); err != nil ||
				one.Inbox != "uk" || one.Status != core.StatusOpen {
				t.Errorf("%s: %+v (%v), want open in uk", from, one, err)
			}
			got = append(got, one.Assignee)
		}
		if !slices.Equal(got, []string{"ann", "bob", "ann"}) {
			t.Errorf("assignees in turn %v, want ann, bob, ann", got)
		}
		for _, d := range e.eventData(e.events(), normalize.TypeConversationAssigned) {
			if d.Reason != "round_robin" || d.Actor != "system:routing" {
				t.Errorf("conversation.assigned reason %q actor %q", d.Reason, d.Actor)
			}
		}

		// Presets win; a message at another entry point is not routed.
		e.receive(sms("+447700900504", "first"))
		customer, conv := e.customer("+447700900504")
		var one core.Conversation
		if json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv, annToken, nil), 200).body, &one); one.Assignee != "" {
			t.Errorf("a conversation at the twilio entry point was routed to %q", one.Assignee)
		}
		e.must(e.do("PUT", "/v1/customers/"+customer+"/presets", annToken, map[string]any{"assignees": []string{"carol"}}), 200)
		e.must(e.do("POST", "/v1/conversations/"+conv+"/status", opsToken, map[string]any{"status": "closed"}), 200)
		e.clock.Advance(30 * 24 * time.Hour)
		again := sms("+447700900504", "back")
		again.EntryPoint = "support-uk"
		e.receive(again)
		_, conv2 := e.customer("+447700900504")
		if json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv2, annToken, nil), 200).body, &one); conv2 == conv || one.Assignee != "carol" {
			t.Errorf("with a preset assignee: %s assigned to %q, want carol", conv2, one.Assignee)
		}
	})
}
