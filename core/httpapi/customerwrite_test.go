package httpapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core"
)

// customerSteps create a customer who never wrote, change it, and add and
// remove its identities; custA (+14155550101) and custB (+14155550102) wrote.
func customerSteps() []step {
	const ag = agentToken
	identities := func(want ...core.Identity) func(t *testing.T, r resp) {
		return func(t *testing.T, r resp) {
			var c core.Customer
			_ = json.Unmarshal(r.body, &c)
			order := func(a, b core.Identity) int { return strings.Compare(a.Kind+a.Address, b.Kind+b.Address) }
			slices.SortFunc(c.Identities, order)
			slices.SortFunc(want, order)
			if !slices.Equal(c.Identities, want) {
				t.Errorf("identities %v, want %v", c.Identities, want)
			}
		}
	}
	phone := core.Identity{Kind: "phone", Address: "+14155550199"}
	email := core.Identity{Kind: "email", Address: "ann@example.com"}
	chat := core.Identity{Kind: "chat", Address: "visitor-1"}
	return []step{
		{name: "create a customer who never wrote", method: "POST", path: "/v1/customers", token: ag, status: 201, save: "custN",
			body:  `{"name":"Ann Lee","identities":[{"kind":"phone","address":"+1 (415) 555-0199"},{"kind":"email","address":"Ann@Example.com"}],"attributes":{"plan":"gold"}}`,
			check: all(wantField("name", "Ann Lee"), wantField("attributes", map[string]any{"plan": "gold"}), identities(email, phone))},
		{name: "create with another customer's phone", method: "POST", path: "/v1/customers", token: ag, status: 409, code: "identity_taken",
			body: `{"identities":[{"kind":"email","address":"b@example.com"},{"kind":"phone","address":"+1 415 555 0101"}]}`},
		{name: "the refused customer was not created", method: "GET", path: "/v1/customers?address=b%40example.com", token: ag, status: 404, code: "not_found"},
		{name: "create without identities", method: "POST", path: "/v1/customers", token: ag, body: `{"name":"Nobody","identities":[]}`, status: 400, code: "invalid"},
		{name: "create with an unknown kind", method: "POST", path: "/v1/customers", token: ag, body: `{"identities":[{"kind":"fax","address":"1"}]}`, status: 400, code: "invalid"},
		{name: "create with the gateway's own kind", method: "POST", path: "/v1/customers", token: ag,
			body: `{"identities":[{"kind":"email_unverified","address":"a@b.co"}]}`, status: 400, code: "invalid"},
		{name: "create with a bad phone", method: "POST", path: "/v1/customers", token: ag, body: `{"identities":[{"kind":"phone","address":"call me"}]}`, status: 400, code: "invalid"},
		{name: "create with a nested attribute", method: "POST", path: "/v1/customers", token: ag,
			body: `{"identities":[{"kind":"chat","address":"v-9"}],"attributes":{"n":{"deep":1}}}`, status: 400, code: "invalid"},
		{name: "create with a numeric attribute", method: "POST", path: "/v1/customers", token: ag,
			body: `{"identities":[{"kind":"chat","address":"v-9"}],"attributes":{"n":5}}`, status: 400, code: "invalid"},
		{name: "create with an unknown identity field", method: "POST", path: "/v1/customers", token: ag,
			body: `{"identities":[{"kind":"chat","address":"v-9","label":"x"}]}`, status: 400, code: "invalid"},
		{name: "create without a token", method: "POST", path: "/v1/customers", body: `{"identities":[{"kind":"chat","address":"v-9"}]}`, status: 401, code: "unauthorized"},

		{name: "rename and set attributes", method: "PATCH", path: "/v1/customers/{custN}", token: ag, status: 200,
			body:  `{"name":"Ann B. Lee","attributes":{"plan":"platinum","crm_id":"C-7"}}`,
			check: all(wantField("name", "Ann B. Lee"), wantField("attributes", map[string]any{"plan": "platinum", "crm_id": "C-7"}), identities(email, phone))},
		{name: "patch nothing", method: "PATCH", path: "/v1/customers/{custN}", token: ag, body: `{}`, status: 400, code: "invalid"},
		{name: "patch an unknown customer", method: "PATCH", path: "/v1/customers/01990000-0000-7000-8000-000000000000", token: ag, body: `{"name":"x"}`, status: 404, code: "not_found"},
		{name: "patch identities", method: "PATCH", path: "/v1/customers/{custN}", token: ag, body: `{"identities":[]}`, status: 400, code: "invalid"},

		{name: "add a chat identity", method: "POST", path: "/v1/customers/{custN}/identities", token: ag, status: 200,
			body: `{"kind":"chat","address":"visitor-1"}`, check: identities(email, phone, chat)},
		{name: "add it again", method: "POST", path: "/v1/customers/{custN}/identities", token: ag, status: 200,
			body: `{"kind":"chat","address":"visitor-1"}`, check: identities(email, phone, chat)},
		{name: "add another customer's phone", method: "POST", path: "/v1/customers/{custN}/identities", token: ag, status: 409, code: "identity_taken",
			body: `{"kind":"phone","address":"+14155550102"}`},
		{name: "add to an unknown customer", method: "POST", path: "/v1/customers/nope/identities", token: ag, status: 404, code: "not_found",
			body: `{"kind":"chat","address":"visitor-2"}`},
		{name: "find by the added identity", method: "GET", path: "/v1/customers?address=visitor-1", token: ag, status: 200, check: wantField("id", "{custN}")},

		{name: "remove the phone in another notation", method: "DELETE", path: "/v1/customers/{custN}/identities/phone/%2B1%20415%20555%200199", token: ag, status: 200,
			check: identities(email, chat)},
		{name: "remove the email", method: "DELETE", path: "/v1/customers/{custN}/identities/email/ann@example.com", token: ag, status: 200,
			check: identities(chat)},
		{name: "remove the last identity", method: "DELETE", path: "/v1/customers/{custN}/identities/chat/visitor-1", token: ag, status: 422, code: "unprocessable"},
		{name: "remove an identity it lacks", method: "DELETE", path: "/v1/customers/{custN}/identities/phone/%2B14155550101", token: ag, status: 404, code: "not_found"},
		{name: "the removed phone is free", method: "GET", path: "/v1/customers?address=%2B14155550199", token: ag, status: 404, code: "not_found"},
	}
}

// Customers API: "A new conversation can be created by sending a new
// message to a contact" (Converso) needs contacts who never wrote.
func TestCustomersAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e, ids := scenarioEnv(t, dialect)
		e.run(t, customerSteps(), ids)
	})
}
