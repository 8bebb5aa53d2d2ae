package httpapi_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore"
)

// readCost is what one request costs the store: statements and
// transactions; on PostgreSQL each statement is a round trip, and each
// transaction two more (BEGIN, COMMIT).
type readCost struct{ statements, transactions int64 }

func (c readCost) roundTrips() int64 { return c.statements + 2*c.transactions }

// costOf sends a GET and returns what it cost the store.
func (e *apiEnv) costOf(path, token string) readCost {
	e.t.Helper()
	st, tx := e.store.Statements(), e.store.Transactions()
	if r := e.do("GET", path, token, nil); r.status != 200 {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return readCost{e.store.Statements() - st, e.store.Transactions() - tx}
}

// A page of conversations, with its contacts and the caller's unread
// counts, is one transaction of at most three statements on PostgreSQL
// (five round trips: the planner settings, the page, its contacts), two
// on SQLite, whatever the filter, for an agent as for an admin; it was two
// transactions of nine statements on PostgreSQL (thirteen round trips,
// fourteen with an assignee).
func TestReadRoundTrips(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		for i := range 30 {
			e.receive(sms(fmt.Sprintf("+1415777%04d", i), "hi"))
		}
		cust, conv := e.customer("+14157770001")
		if r := e.do("POST", "/v1/conversations/"+conv+"/assign", annToken, map[string]any{"agent": "ann"}); r.status != 200 {
			t.Fatalf("assign: %d %s", r.status, r.body)
		}
		e.do("POST", "/v1/conversations/"+conv+"/read", annToken, nil)
		first := e.do("GET", "/v1/conversations?limit=10", annToken, nil).object(t)
		cursor, _ := first["next_cursor"].(string)
		maxStatements := int64(3)
		if dialect == sqlstore.SQLite {
			maxStatements = 2
		}
		for _, path := range []string{"/v1/conversations", "/v1/conversations?limit=10&cursor=" + url.QueryEscape(cursor),
			"/v1/conversations?status=open&assignee=ann", "/v1/conversations?unreplied=true"} {
			for _, token := range []string{annToken, adminToken} {
				c := e.costOf(path, token)
				t.Logf("GET %s: %d statements, %d transactions, %d round trips", path, c.statements, c.transactions, c.roundTrips())
				if c.transactions != 1 || c.statements > maxStatements {
					t.Errorf("GET %s: %d statements in %d transactions, want at most %d in one",
						path, c.statements, c.transactions, maxStatements)
				}
			}
		}
		// The figures, with the caller's own, are one transaction of at
		// most three statements (the counts with the replies waiting, the
		// planner setting, the caller's own figures); they were two of
		// seven (eleven round trips).
		for _, token := range []string{annToken, adminToken} {
			c := e.costOf("/v1/stats", token)
			t.Logf("GET /v1/stats: %d statements, %d transactions, %d round trips", c.statements, c.transactions, c.roundTrips())
			if c.transactions != 1 || c.statements > maxStatements {
				t.Errorf("GET /v1/stats: %d statements in %d transactions, want at most %d in one", c.statements, c.transactions, maxStatements)
			}
		}
		// A page of messages: the conversation (may the caller see it?) and
		// its messages. A customer with its identities is one statement:
		// a lookup by address is two (three before), a timeline page three
		// (the customer, the messages, their conversations; four before).
		for path, most := range map[string]int64{"/v1/conversations/" + conv + "/messages": 2,
			"/v1/customers/" + cust + "/timeline": 3, "/v1/customers?address=" + url.QueryEscape("+14157770001"): 2} {
			c := e.costOf(path, annToken)
			t.Logf("GET %s: %d statements, %d transactions, %d round trips", path, c.statements, c.transactions, c.roundTrips())
			if c.transactions != 1 || c.statements > most {
				t.Errorf("GET %s: %d statements in %d transactions, want at most %d in one", path, c.statements, c.transactions, most)
			}
		}
	})
}
