package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// writeMany has a customer write n messages, in batches of 50 a minute
// apart: messages of one batch share their time, so pages must break ties
// by id.
func (e *apiEnv) writeMany(from string, n int) {
	e.t.Helper()
	for i := 0; i < n; i += 50 {
		var batch []normalize.Message
		for j := i; j < min(i+50, n); j++ {
			batch = append(batch, sms(from, fmt.Sprintf("m%03d", j)))
		}
		e.receive(batch...)
		e.clock.Advance(time.Minute)
	}
}

// messageIDs are the ids of a conversation's messages, read whole from the
// store, checked to be in (created_at, id) order.
func (e *apiEnv) messageIDs(conv string) []string {
	e.t.Helper()
	msgs, err := e.svc.Messages(context.Background(), conv)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
		if i > 0 && (m.CreatedAt.Before(msgs[i-1].CreatedAt) || m.CreatedAt.Equal(msgs[i-1].CreatedAt) && m.ID < msgs[i-1].ID) {
			e.t.Fatalf("messages out of (created_at, id) order at %d", i)
		}
	}
	return out
}

// messagePage is a page of GET …/messages.
type messagePage struct {
	Data       []core.StoredMessage `json:"data"`
	NextCursor *string              `json:"next_cursor"`
}

// pageThrough follows next_cursor from the first page of path (whose query
// is q), decoding each page with read into its ids; it returns the size of
// each page and every id in order.
func (e *apiEnv) pageThrough(path, q string, read func(body []byte) ([]string, *string)) (sizes []int, all []string) {
	e.t.Helper()
	cursor := ""
	for range 20 {
		query := q
		if cursor != "" {
			query += "&cursor=" + url.QueryEscape(cursor)
		}
		got, next := read(e.must(e.do("GET", path+"?"+query, annToken, nil), 200).body)
		sizes, all = append(sizes, len(got)), append(all, got...)
		if next == nil {
			return sizes, all
		}
		if *next == "" {
			e.t.Fatal("an empty next_cursor: null on the last page")
		}
		cursor = *next
	}
	e.t.Fatal("no last page after 20 pages")
	return nil, nil
}

func readMessagePage(t *testing.T) func([]byte) ([]string, *string) {
	return func(body []byte) ([]string, *string) {
		var p messagePage
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("page %s: %v", body, err)
		}
		ids := make([]string, len(p.Data))
		for i, m := range p.Data {
			ids[i] = m.ID
		}
		return ids, p.NextCursor
	}
}

// A conversation's messages are answered a page at a time: oldest first,
// 100 by default, at most 500 (a larger limit is 400, not clamped), with an
// opaque next_cursor, null on the last page; a cursor the API did not give
// is 400. (Before, GET …/messages answered every message at once.)
func TestConversationMessagesArePaged(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		e.writeMany("+14155550101", 250)
		_, conv := e.customer("+14155550101")
		want := e.messageIDs(conv)
		if len(want) != 250 {
			t.Fatalf("%d messages stored, want 250", len(want))
		}
		path := "/v1/conversations/" + conv + "/messages"

		sizes, got := e.pageThrough(path, "limit=100", readMessagePage(t))
		if !slices.Equal(sizes, []int{100, 100, 50}) || !slices.Equal(got, want) {
			t.Errorf("pages of 100: sizes %v; the pages hold every message once, in order: %v", sizes, slices.Equal(got, want))
		}
		sizes, got = e.pageThrough(path, "", readMessagePage(t))
		if !slices.Equal(sizes, []int{100, 100, 50}) || !slices.Equal(got, want) {
			t.Errorf("default pages: sizes %v, want 100, 100, 50 in order", sizes)
		}
		sizes, got = e.pageThrough(path, "limit=500", readMessagePage(t))
		if !slices.Equal(sizes, []int{250}) || !slices.Equal(got, want) {
			t.Errorf("limit=500: sizes %v, want one page of 250", sizes)
		}
		for _, q := range []string{"limit=501", "limit=0", "limit=-1", "limit=ten", "limit=99999999999999999999"} {
			if r := e.do("GET", path+"?"+q, annToken, nil); r.status != 400 || r.code() != "invalid" {
				t.Errorf("%s: %d %q, want 400", q, r.status, r.message())
			}
		}
		for name, cur := range badCursors(e) {
			if r := e.do("GET", path+"?cursor="+url.QueryEscape(cur), annToken, nil); r.status != 400 || r.code() != "invalid" {
				t.Errorf("cursor %s: %d %q, want 400", name, r.status, r.message())
			}
		}
	})
}

// badCursors are cursors the API never gave for a message list.
func badCursors(e *apiEnv) map[string]string {
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	_ = json.Unmarshal(e.must(e.do("GET", "/v1/conversations?limit=1", adminToken, nil), 200).body, &page)
	out := map[string]string{
		"not base64":            "%%%",
		"not JSON":              raw("hello"),
		"SQL in the id":         raw(`{"k":"m","t":1,"id":"x' OR '1'='1"}`),
		"no id":                 raw(`{"k":"m","t":1}`),
		"a string time":         raw(`{"k":"m","t":"now","id":"a"}`),
		"a time beyond int64":   raw(`{"k":"m","t":1e30,"id":"a"}`),
		"too long":              raw(`{"k":"m","t":1,"id":"` + string(make([]byte, 600)) + `"}`),
		"of the conversations":  "",
		"of another kind":       raw(`{"k":"x","t":1,"id":"a"}`),
		"padded base64":         base64.URLEncoding.EncodeToString([]byte(`{"k":"m","t":1,"id":"ab"}`)),
		"standard base64 chars": "+/+/",
	}
	if page.NextCursor != nil {
		out["of the conversations"] = *page.NextCursor
	} else {
		delete(out, "of the conversations")
	}
	return out
}

// A customer's timeline is answered a page at a time across conversations:
// oldest first, grouped by conversation, 100 by default, at most 500, with
// next_cursor. (Before, it answered every conversation with every message.)
func TestCustomerTimelineIsPaged(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		e.writeMany("+14155550101", 150)
		cust, first := e.customer("+14155550101")
		e.must(e.do("POST", "/v1/conversations/"+first+"/status", adminToken, map[string]any{"status": "closed"}), 200)
		e.clock.Advance(100 * time.Hour) // past the reopen window: a new conversation
		e.writeMany("+14155550101", 100)
		_, second := e.customer("+14155550101")
		if second == first {
			t.Fatal("the customer's second batch reopened the first conversation")
		}
		want := append(e.messageIDs(first), e.messageIDs(second)...)
		if len(want) != 250 {
			t.Fatalf("%d messages stored, want 250", len(want))
		}
		var groups [][]string // conversation ids of each page
		read := func(body []byte) ([]string, *string) {
			var p struct {
				Customer      core.Customer
				Conversations []core.TimelineConversation
				NextCursor    *string `json:"next_cursor"`
			}
			if err := json.Unmarshal(body, &p); err != nil || p.Customer.ID != cust {
				t.Fatalf("page %s: %v", body, err)
			}
			var ids, convs []string
			for _, c := range p.Conversations {
				convs = append(convs, c.ID)
				for _, m := range c.Messages {
					if m.ConversationID != c.ID {
						t.Errorf("message %s of %s under %s", m.ID, m.ConversationID, c.ID)
					}
					ids = append(ids, m.ID)
				}
			}
			groups = append(groups, convs)
			return ids, p.NextCursor
		}
		path := "/v1/customers/" + cust + "/timeline"
		sizes, got := e.pageThrough(path, "limit=100", read)
		if !slices.Equal(sizes, []int{100, 100, 50}) || !slices.Equal(got, want) {
			t.Errorf("pages of 100: sizes %v; every message once, in order: %v", sizes, slices.Equal(got, want))
		}
		if fmt.Sprint(groups) != fmt.Sprint([][]string{{first}, {first, second}, {second}}) {
			t.Errorf("conversations of the pages %v, want [%s] [%s %s] [%s]", groups, first, first, second, second)
		}
		groups = nil
		if sizes, got = e.pageThrough(path, "", read); !slices.Equal(sizes, []int{100, 100, 50}) || !slices.Equal(got, want) {
			t.Errorf("default pages: sizes %v, want 100, 100, 50 in order", sizes)
		}
		if r := e.do("GET", path+"?limit=501", annToken, nil); r.status != 400 || r.code() != "invalid" {
			t.Errorf("limit=501: %d %q, want 400", r.status, r.message())
		}
		for name, cur := range badCursors(e) {
			if r := e.do("GET", path+"?cursor="+url.QueryEscape(cur), annToken, nil); r.status != 400 || r.code() != "invalid" {
				t.Errorf("cursor %s: %d %q, want 400", name, r.status, r.message())
			}
		}
	})
}
