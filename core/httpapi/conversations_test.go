package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
)

func TestAPIPagination(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		var convs []core.Conversation
		for i := range 7 {
			addr := fmt.Sprintf("+1415555%04d", i)
			e.receive(sms(addr, "hi"))
			_, id := e.customer(addr)
			conv, err := e.svc.Conversation(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			convs = append(convs, conv)
			if i%2 == 0 { // pairs share an instant: the id breaks the tie
				e.clock.Advance(time.Minute)
			}
		}
		slices.SortFunc(convs, func(a, b core.Conversation) int {
			if c := b.LastActivityAt.Compare(a.LastActivityAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		var order []string // newest activity first
		for _, c := range convs {
			order = append(order, c.ID)
		}
		assigned := order[3]
		e.do("POST", "/v1/conversations/"+assigned+"/assign", agentToken, map[string]any{"agent": "ann", "inbox": "vip"})

		list := func(t *testing.T, query string) (ids []string, pages int) {
			t.Helper()
			e := e.with(t)
			cursor := ""
			for {
				q := query
				if cursor != "" {
					q += "&cursor=" + cursor
				}
				r := e.do("GET", "/v1/conversations?"+q, agentToken, nil)
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				var page struct {
					Data       []core.Conversation
					NextCursor *string `json:"next_cursor"`
				}
				if err := json.Unmarshal(r.body, &page); err != nil {
					t.Fatal(err)
				}
				pages++
				for _, c := range page.Data {
					ids = append(ids, c.ID)
				}
				if page.NextCursor == nil {
					return ids, pages
				}
				cursor = *page.NextCursor
				if pages > 20 {
					t.Fatal("no last page")
				}
			}
		}
		tests := map[string]struct {
			query string
			want  []string
			pages int
		}{
			"pages of 3":      {"limit=3", order, 3},
			"pages of 1":      {"limit=1", order, 7},
			"one page":        {"limit=7", order, 1},
			"default limit":   {"", order, 1},
			"assignee":        {"assignee=ann&limit=1", []string{assigned}, 1},
			"inbox":           {"inbox=vip", []string{assigned}, 1},
			"status open":     {"status=open", []string{assigned}, 1},
			"customer":        {"customer_id=" + convs[5].CustomerID, []string{convs[5].ID}, 1},
			"unassigned":      {"unassigned=true&limit=2", slices.DeleteFunc(slices.Clone(order), func(s string) bool { return s == assigned }), 3},
			"closed and none": {"status=closed", nil, 1},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				got, pages := list(t, tc.query)
				if !slices.Equal(got, tc.want) || pages != tc.pages {
					t.Errorf("%v in %d pages, want %v in %d", got, pages, tc.want, tc.pages)
				}
			})
		}
		bad := map[string]string{
			"limit 0":            "limit=0",
			"limit 201":          "limit=201",
			"limit not a number": "limit=ten",
			"garbage cursor":     "cursor=!!!",
			"cursor not JSON":    "cursor=bm90IGpzb24",
			"unknown status":     "status=pending",
			"unassigned maybe":   "unassigned=maybe",
			"assignee and none":  "assignee=ann&unassigned=true",
			"NUL inbox":          "inbox=a%00",
		}
		for name, q := range bad {
			t.Run(name, func(t *testing.T) {
				if r := e.with(t).do("GET", "/v1/conversations?"+q, agentToken, nil); r.status != 400 || r.code() != "invalid" {
					t.Errorf("%d %s, want 400 invalid", r.status, r.body)
				}
			})
		}
	})
}
