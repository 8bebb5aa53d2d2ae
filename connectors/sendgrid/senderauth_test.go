package sendgrid

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/opengateway/gateway/connectors/connectortest"
	"github.com/opengateway/gateway/normalize"
)

// Each payload's sender verdict as a user of the message.received event
// sees it, with SendGrid's verdicts kept as received. The golden files
// (TestGolden) hold the whole normalized message of each.
func TestInboundSenderVerified(t *testing.T) {
	cases := []struct {
		Label            string
		File             string
		ExpectedVerified bool
		ExpectedSPF      string
		ExpectedDKIM     string
	}{
		{Label: "SDK default mode: SPF pass, envelope aligned (DKIM only for sendgrid.com)", File: "inbound_default.txt",
			ExpectedVerified: true, ExpectedSPF: "pass", ExpectedDKIM: "{@sendgrid.com : pass}"},
		{Label: "SPF pass, envelope of the From domain in another case", File: "inbound_reply_quoted.txt",
			ExpectedVerified: true, ExpectedSPF: "pass"},
		{Label: "raw mode: DKIM pass for the From domain, no SPF field", File: "inbound_raw.txt",
			ExpectedVerified: true, ExpectedDKIM: "{@example.com : pass}"},
		{Label: "DKIM pass for a subdomain of the From domain among several, SPF softfail", File: "inbound_dkim_subdomain.txt",
			ExpectedVerified: true, ExpectedSPF: "softfail", ExpectedDKIM: "{@news.example.org : pass, @amazonses.com : pass}"},
		{Label: "forged: SPF fail, no DKIM", File: "inbound_spoofed.txt",
			ExpectedVerified: false, ExpectedSPF: "fail", ExpectedDKIM: "none"},
		{Label: "forged: SPF and DKIM pass for the attacker's domain only", File: "inbound_dkim_misaligned.txt",
			ExpectedVerified: false, ExpectedSPF: "pass", ExpectedDKIM: "{@evil.example : pass}"},
		{Label: "raw mode: passing Authentication-Results and Received-SPF headers in the mail are not trusted", File: "inbound_raw_forged_headers.txt",
			ExpectedVerified: false, ExpectedSPF: "softfail", ExpectedDKIM: "{@example.com : fail (body hash did not verify)}"},
		{Label: "no verdicts at all", File: "inbound_attachment.txt", ExpectedVerified: false},
		{Label: "no verdicts, other charset", File: "inbound_latin1.txt", ExpectedVerified: false},
	}
	for _, c := range cases {
		t.Run(c.Label, func(t *testing.T) {
			h := Inbound{User: inboundUser, Password: inboundPass, Media: keepMedia{}}
			res, err := h.Handle(context.Background(), inboundRequest(connectortest.Read(t, c.File), inboundUser, inboundPass))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(res.Events[0].Event)
			if err := normalize.ValidateEvent("inbound", raw); err != nil {
				t.Error(err)
			}
			// On the wire: false is written, not left out.
			var wire struct {
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(raw, &wire); err != nil {
				t.Fatal(err)
			}
			if v, ok := wire.Data["sender_verified"].(bool); !ok || v != c.ExpectedVerified {
				t.Errorf("sender_verified %v (present %v), want %v", wire.Data["sender_verified"], ok, c.ExpectedVerified)
			}
			m, err := res.Events[0].Event.DecodeMessage()
			if err != nil {
				t.Fatal(err)
			}
			spf, _ := m.Extra["spf"].(string)
			dkim, _ := m.Extra["dkim"].(string)
			if spf != c.ExpectedSPF || dkim != c.ExpectedDKIM {
				t.Errorf("extra spf %q dkim %q, want %q and %q", spf, dkim, c.ExpectedSPF, c.ExpectedDKIM)
			}
		})
	}
}

func TestSenderVerifiedRule(t *testing.T) {
	const env = `{"to":["support@shop.example"],"from":"ann@example.com"}`
	cases := []struct {
		label, from, spf, dkim, envelope string
		want                             bool
	}{
		{"SPF pass, same domain", "ann@example.com", "pass", "", env, true},
		{"SPF Pass with a comment", "ann@example.com", "Pass (sender SPF authorized)", "", env, true},
		{"SPF pass, envelope on a subdomain", "ann@example.com", "pass", "", `{"from":"bounces@mail.example.com"}`, true},
		{"SPF pass, envelope on the parent domain", "ann@eu.example.com", "pass", "", `{"from":"bounces@example.com"}`, true},
		{"SPF pass, envelope of a sibling domain", "ann@eu.example.com", "pass", "", `{"from":"bounces@us.example.com"}`, false},
		{"SPF pass, envelope of another domain", "ann@example.com", "pass", "", `{"from":"x@example.net"}`, false},
		{"SPF pass, a lookalike domain", "ann@example.com", "pass", "", `{"from":"x@badexample.com"}`, false},
		{"SPF pass, empty envelope sender (bounce)", "ann@example.com", "pass", "", `{"from":""}`, false},
		{"SPF pass, no envelope", "ann@example.com", "pass", "", "", false},
		{"SPF pass, envelope not JSON", "ann@example.com", "pass", "", "ann@example.com", false},
		{"SPF softfail", "ann@example.com", "softfail", "", env, false},
		{"SPF neutral", "ann@example.com", "neutral", "", env, false},
		{"SPF none", "ann@example.com", "none", "", env, false},
		{"SPF temperror", "ann@example.com", "temperror", "", env, false},
		{"SPF passing only as a substring", "ann@example.com", "nopass", "", env, false},
		{"DKIM pass, same domain", "ann@example.com", "", "{@example.com : pass}", "", true},
		{"DKIM pass, upper case", "ann@example.com", "", "{@Example.COM : PASS}", "", true},
		{"DKIM pass for the parent of the From domain", "ann@mail.example.com", "", "{@example.com : pass}", "", true},
		{"DKIM pass second of two", "ann@example.com", "fail", "{@esp.example : pass, @example.com : pass}", "", true},
		{"DKIM fail for the From domain, pass for a relay", "ann@example.com", "", "{@example.com : fail, @relay.example : pass}", "", false},
		{"DKIM with diagnostics", "ann@example.com", "", "{@example.com : invalid (public key: invalid data\n at /opt/perl/lib/DKIM.pm line 186, <> line 10820.}", "", false},
		{"DKIM none", "ann@example.com", "", "none", "", false},
		{"DKIM pass for a public suffix", "ann@shop.co.uk", "", "{@co.uk : pass}", "", false},
		{"DKIM pass for a top-level domain", "ann@example.com", "", "{@com : pass}", "", false},
		{"DKIM pass for a hosting suffix", "ann@site.github.io", "", "{@github.io : pass}", "", false},
		{"DKIM pass for a registrable domain under a public suffix", "ann@mail.shop.co.uk", "", "{@shop.co.uk : pass}", "", true},
		{"DKIM pass, trailing dot", "ann@example.com", "", "{@example.com. : pass}", "", true},
		{"nothing", "ann@example.com", "", "", "", false},
		{"From without a domain", "ann", "pass", "{@example.com : pass}", env, false},
	}
	for _, c := range cases {
		if got := senderVerified(c.from, c.spf, c.dkim, c.envelope); got != c.want {
			t.Errorf("%s: senderVerified(%q, %q, %q, %q) = %v, want %v", c.label, c.from, c.spf, c.dkim, c.envelope, got, c.want)
		}
	}
}
