package httpapi_test

import (
	"slices"
	"testing"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// Seed (Converso): "Conversations assigned to me shows the number of
// conversations that you have been assigned to ... This excludes closed
// conversations." The caller's inbox leaves closed ones out unless asked.
func TestConversationsAssignedToMeExcludeClosedConversations(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "a"), sms("+14155550102", "b"))
		_, a := e.customer("+14155550101")
		_, b := e.customer("+14155550102")
		for _, c := range []string{a, b} {
			e.must(e.do("POST", "/v1/conversations/"+c+"/assign", opsToken, map[string]any{"agent": "ann"}), 200)
		}
		e.must(e.do("POST", "/v1/conversations/"+b+"/status", annToken, map[string]any{"status": "closed"}), 200)
		if got := ids(e.list(annToken, "?assignee=me")); !slices.Equal(got, []string{a}) {
			t.Fatalf("my inbox %v, want only the open %s", got, a)
		}
		if got := ids(e.list(annToken, "?assignee=me&status=closed")); !slices.Equal(got, []string{b}) {
			t.Fatalf("my closed conversations %v, want %s", got, b)
		}
		if got := ids(e.list(opsToken, "?assignee=ann")); len(got) != 2 {
			t.Fatalf("ann's conversations named by an admin %v, want both", got)
		}
	})
}

// Seed (Converso): "You can click on the tile and be forwarded to the
// relevant list of conversations and messages." The to-do views:
// unreplied (a human's to answer; a bot's reply leaves it there; a bot's
// conversation is not in it), unread for the caller, by channel and by
// handler.
func TestToDoViewsBehindTheDashboardTiles(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		wa := sms("+14155550102", "is it in stock?")
		wa.Channel = normalize.ChannelWhatsApp
		e.receive(sms("+14155550101", "a1"), sms("+14155550101", "a2"), wa, sms("+14155550103", "c"))
		_, a := e.customer("+14155550101")
		_, b := e.customer("+14155550102")
		_, c := e.customer("+14155550103")
		e.clock.Advance(time.Minute)
		// A bot answers a: still unreplied. The AI takes b. Ann answers c.
		e.must(e.do("POST", "/v1/conversations/"+a+"/messages", triageToken, map[string]any{"text": "We will get back to you."}), 202)
		e.must(e.do("POST", "/v1/conversations/"+b+"/handover", triageToken, map[string]any{"to": "bot:ai"}), 200)
		e.must(e.do("POST", "/v1/conversations/"+c+"/messages", annToken, map[string]any{"text": "Done."}), 202)
		views := map[string]struct {
			query, token string
			want         []string
		}{
			"unreplied":             {"?unreplied=true", bobToken, []string{a}},
			"handled by any bot":    {"?handler=bot", bobToken, []string{b}},
			"handled by one bot":    {"?handler=bot:ai", bobToken, []string{b}},
			"handled by another":    {"?handler=bot:other", bobToken, []string{}},
			"handled by humans":     {"?handler=human", bobToken, []string{a, c}},
			"on WhatsApp":           {"?channel=whatsapp", bobToken, []string{b}},
			"unread for bob":        {"?unread=true", bobToken, []string{a, b, c}},
			"unread for ann":        {"?unread=true", annToken, []string{a, b}}, // her reply marked c read
			"unreplied on WhatsApp": {"?unreplied=true&channel=whatsapp", bobToken, []string{}},
		}
		for name, v := range views {
			got := ids(e.list(v.token, v.query))
			slices.Sort(got)
			want := slices.Clone(v.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", name, got, want)
			}
		}
		if st := e.stats(bobToken); st.Unreplied != 2 {
			t.Errorf("unreplied figure %d, want a's 2 (b is the AI's, c is answered)", st.Unreplied)
		}
		for _, q := range []string{"?unreplied=yes", "?unread=1", "?channel=pager", "?handler=robot", "?handler=bot:"} {
			if r := e.do("GET", "/v1/conversations"+q, bobToken, nil); r.status != 400 || r.code() != "invalid" {
				t.Errorf("%s: %d %s, want 400 invalid", q, r.status, r.body)
			}
		}
		if r := e.do("GET", "/v1/conversations?unread=true", agentToken, nil); r.status != 400 {
			t.Errorf("unread=true for nobody in particular: %d, want 400", r.status)
		}
	})
}
