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

// check fails the test unless the request cost at most most statements:
// on PostgreSQL outside of any transaction (each statement one round trip:
// no BEGIN, COMMIT or SET LOCAL), on SQLite in one.
func (c readCost) check(t *testing.T, dialect, path string, most int64) {
	t.Helper()
	t.Logf("GET %s: %d statements, %d transactions, %d round trips", path, c.statements, c.transactions, c.roundTrips())
	if dialect == sqlstore.SQLite {
		if c.transactions != 1 || c.statements > most {
			t.Errorf("GET %s: %d statements in %d transactions, want at most %d in one", path, c.statements, c.transactions, most)
		}
		return
	}
	if c.roundTrips() > most {
		t.Errorf("GET %s: %d round trips (%d statements, %d transactions), want at most %d",
			path, c.roundTrips(), c.statements, c.transactions, most)
	}
}

// A page of conversations, with its contacts and the caller's unread
// counts, is one round trip on PostgreSQL (one statement, on a session
// with the planner settings it wants, in no transaction), two statements
// (the page, its contacts) in one transaction on SQLite, whatever the
// filter, for an agent as for an admin; it was one transaction of three
// statements on PostgreSQL (five round trips: BEGIN, SET LOCAL, the page,
// its contacts, COMMIT), and before that two of nine.
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
		listMost := int64(1)
		if dialect == sqlstore.SQLite {
			listMost = 2
		}
		for _, path := range []string{"/v1/conversations", "/v1/conversations?limit=10&cursor=" + url.QueryEscape(cursor),
			"/v1/conversations?status=open&assignee=ann", "/v1/conversations?unreplied=true"} {
			for _, token := range []string{annToken, adminToken} {
				e.costOf(path, token).check(t, dialect, path, listMost)
			}
		}
		// The figures, with the caller's own, are two round trips (the
		// counts with the replies waiting, the caller's own figures on
		// sessions without sequential scans); they were five (BEGIN, SET
		// LOCAL, COMMIT), and before that eleven.
		for _, token := range []string{annToken, adminToken} {
			e.costOf("/v1/stats", token).check(t, dialect, "/v1/stats", 2)
		}
		// A page of messages: the conversation (may the caller see it?) and
		// its messages. A customer with its identities is one statement:
		// a lookup by address is two (three before), a timeline page three
		// (the customer, the messages, their conversations; four before);
		// none has a BEGIN or COMMIT on PostgreSQL (two round trips each
		// before).
		for path, most := range map[string]int64{"/v1/conversations/" + conv + "/messages": 2,
			"/v1/customers/" + cust + "/timeline": 3, "/v1/customers?address=" + url.QueryEscape("+14157770001"): 2} {
			e.costOf(path, annToken).check(t, dialect, path, most)
		}
	})
}
