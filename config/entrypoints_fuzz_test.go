package config

import (
	"strings"
	"testing"
)

// FuzzParseEntryPoints fuzzes the entry points file. Seeds: the documented
// example and files breaking each rule. The parser never panics; an
// accepted file holds only entry points every rule passes (unique ids of
// [a-z0-9-], a known provider, credentials naming set variables); no
// problem ever shows the value of a credential variable.
func FuzzParseEntryPoints(f *testing.F) {
	f.Add(goodEntryPoints)
	f.Add("entry_points:\n  - id: a\n    provider: webchat\n    colour: red\n")
	f.Add("entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n  - id: b\n    provider: twilio\n    address: \"+15558675310\"\n")
	f.Add("entry_points:\n  - id: a\n    provider: sendgrid\n    address: Sales@Example.com\n    credentials: {api_key: SET_VAR, inbound_user: NOT_SET}\n")
	f.Add("entry_points: [{id: x, provider: whatsapp, address: '1', default: yes, agents: [a, a]}]\n")
	f.Add("entry_points:\n  - &a {id: a, provider: webchat}\n  - *a\n")
	f.Add("{")
	f.Fuzz(func(t *testing.T, file string) {
		eps, problems := ParseEntryPoints([]byte(file), secretEnv("SET_VAR", "TWILIO_ACCOUNT_SID_US", "TWILIO_AUTH_TOKEN_US"))
		for _, p := range problems {
			if strings.Contains(p, secretValue) {
				t.Fatalf("a problem shows a credential: %q", p)
			}
		}
		if len(problems) > 0 {
			return
		}
		if len(eps) == 0 {
			t.Fatal("a file without entry points accepted")
		}
		ids := map[string]bool{}
		for _, ep := range eps {
			if ids[ep.ID] || !entryPointID.MatchString(ep.ID) {
				t.Fatalf("id %q accepted", ep.ID)
			}
			ids[ep.ID] = true
			allowed, ok := EntryPointCredentials[ep.Provider]
			if !ok || ep.Inbox == "" || (ep.Routing != RoutingNone && ep.Routing != RoutingRoundRobin) {
				t.Fatalf("accepted %+v", ep)
			}
			if ep.Provider != ProviderWebChat && ep.Address == "" {
				t.Fatalf("accepted without an address: %+v", ep)
			}
			for name, v := range ep.Credentials {
				if !strings.Contains(strings.Join(allowed, ","), name) || secretEnv("SET_VAR", "TWILIO_ACCOUNT_SID_US", "TWILIO_AUTH_TOKEN_US")(v) == "" {
					t.Fatalf("credential %s=%s accepted", name, v)
				}
			}
		}
	})
}
