package core_test

import (
	"encoding/json"
	"testing"

	"github.com/opengateway/gateway/core"
)

// FuzzNewCustomer fuzzes a customer's input as the API and commands decode
// it: Validate never panics, refuses only with invalid, and what it accepts
// is canonical (validating it again changes nothing) and within the limits.
func FuzzNewCustomer(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ann Lee","identities":[{"kind":"phone","address":"+1 (415) 555-0199"},{"kind":"email","address":"Ann <Ann@Example.com>"}],"attributes":{"plan":"gold"}}`,
		`{"identities":[{"kind":"chat","address":"visitor-1"},{"kind":"chat","address":"visitor-1"}]}`,
		`{"identities":[{"kind":"whatsapp","address":"BSUID.1"},{"kind":"messenger","address":"12 34"}]}`,
		`{"identities":[{"kind":"phone","address":"whatsapp:+4420 7946 0958"}],"attributes":{"":"x"}}`,
		`{"identities":[{"kind":"email_unverified","address":"a@b.c"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var n core.NewCustomer
		if json.Unmarshal(body, &n) != nil {
			return
		}
		err := n.Validate()
		if err != nil {
			if core.ErrorCode(err) != core.EINVALID {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if len(n.Identities) == 0 || len(n.Identities) > core.MaxIdentities || len(n.Attributes) > core.MaxAttributes {
			t.Fatalf("accepted %+v", n)
		}
		again := n
		again.Identities = append([]core.Identity(nil), n.Identities...)
		if err := again.Validate(); err != nil || len(again.Identities) != len(n.Identities) {
			t.Fatalf("validated twice: %v, %v then %v", err, n.Identities, again.Identities)
		}
		for i, id := range again.Identities {
			if id != n.Identities[i] {
				t.Fatalf("not canonical: %v became %v", n.Identities[i], id)
			}
		}
	})
}
