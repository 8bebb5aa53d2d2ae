package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// secretValue is what every credential variable holds in these tests: no
// message may show it.
const secretValue = "s3cret-VALUE-never-printed"

func secretEnv(names ...string) func(string) string {
	return func(k string) string {
		if slices.Contains(names, k) {
			return secretValue
		}
		return ""
	}
}

const goodEntryPoints = `entry_points:
  - id: support-us
    provider: twilio
    address: "+1 555 867 5310"
    inbox: support
    routing: round_robin
    agents: [ann, bob]
    reopen_window: 72h
    auto_close_after: 4d
    default: true
    credentials:
      account_sid: TWILIO_ACCOUNT_SID_US
      auth_token: TWILIO_AUTH_TOKEN_US
  - id: sales-mail
    provider: sendgrid
    address: Sales@Example.COM
  - id: site
    provider: webchat
`

func TestEntryPointsFileParsed(t *testing.T) {
	eps, problems := ParseEntryPoints([]byte(goodEntryPoints), secretEnv("TWILIO_ACCOUNT_SID_US", "TWILIO_AUTH_TOKEN_US"))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if len(eps) != 3 {
		t.Fatalf("%d entry points", len(eps))
	}
	us := eps[0]
	if us.ID != "support-us" || us.Provider != "twilio" || us.Address != "+15558675310" || us.Inbox != "support" ||
		us.Routing != RoutingRoundRobin || !slices.Equal(us.Agents, []string{"ann", "bob"}) || !us.Default ||
		us.ReopenWindow != 72*time.Hour || us.AutoCloseAfter != 96*time.Hour || us.Line != 2 ||
		us.Credentials["auth_token"] != "TWILIO_AUTH_TOKEN_US" || us.Credentials["account_sid"] != "TWILIO_ACCOUNT_SID_US" {
		t.Errorf("support-us: %+v", us)
	}
	if eps[1].Address != "sales@example.com" || eps[1].Inbox != "default" || eps[1].Routing != RoutingNone || eps[1].Default {
		t.Errorf("sales-mail: %+v", eps[1])
	}
	if eps[2].Address != "" || eps[2].Provider != "webchat" {
		t.Errorf("site: %+v", eps[2])
	}
}

// Each rule refuses the file with a message naming the line (and the id
// when there is one), never a value of the file or of a variable.
func TestEntryPointsFileRules(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"unknown key", "entry_points:\n  - id: a\n    provider: webchat\n    colour: red\n", []string{`line 4: unknown key "colour"`}},
		{"unknown top key", "entry_points:\n  - id: a\n    provider: webchat\nextra: 1\n", []string{`line 4: unknown key "extra"`}},
		{"missing variable", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n    credentials:\n      auth_token: NOT_SET_TOKEN\n",
			[]string{`line 6: entry point "a": credential auth_token: variable NOT_SET_TOKEN is not set`}},
		{"secret in file", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n    credentials:\n      auth_token: abc123-a-real-token\n",
			[]string{`line 6: entry point "a": credential auth_token must name an environment variable`}},
		{"unknown credential", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n    credentials:\n      api_key: SET_VAR\n",
			[]string{`line 6: entry point "a": unknown credential "api_key" for provider twilio`}},
		{"duplicate address", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n  - id: b\n    provider: twilio\n    address: \"+1 (555) 867-5310\"\n",
			[]string{`line 5: entry point "b": entry point "a" (line 2) has the same twilio address`}},
		{"same number, other provider", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n  - id: b\n    provider: voice\n    address: \"+15558675310\"\n", nil},
		{"duplicate id", "entry_points:\n  - id: a\n    provider: webchat\n  - id: a\n    provider: sendgrid\n    address: example.com\n",
			[]string{`line 4: entry point "a": id is already used at line 2`}},
		{"unknown provider", "entry_points:\n  - id: a\n    provider: telegram\n", []string{`line 3: entry point "a": provider must be one of twilio, voice`}},
		{"missing address", "entry_points:\n  - id: a\n    provider: whatsapp\n", []string{`line 2: entry point "a": address is required for provider whatsapp`}},
		{"bad phone", "entry_points:\n  - id: a\n    provider: voice\n    address: call-me\n", []string{`line 4: entry point "a": address must be a phone number in E.164`}},
		{"bad meta id", "entry_points:\n  - id: a\n    provider: messenger\n    address: my-page\n", []string{`line 4: entry point "a": address must be the numeric id`}},
		{"bad email", "entry_points:\n  - id: a\n    provider: sendgrid\n    address: not an address\n", []string{`line 4: entry point "a": address must be an email address or a domain`}},
		{"domain with @", "entry_points:\n  - id: a\n    provider: sendgrid\n    address: \"@example.com\"\n", []string{`line 4: entry point "a": a domain is written without @ (example.com)`}},
		{"inbound user without password", "entry_points:\n  - id: a\n    provider: sendgrid\n    address: example.com\n    credentials:\n      inbound_user: SET_VAR\n      api_key: SET_VAR\n",
			[]string{`line 6: entry point "a": credentials inbound_user and inbound_password go together`}},
		{"twilio auth token without account sid", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n    credentials:\n      auth_token: SET_VAR\n",
			[]string{`line 6: entry point "a": credentials account_sid and auth_token go together`}},
		{"twilio account sid without auth token", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n    credentials:\n      account_sid: SET_VAR\n",
			[]string{`line 6: entry point "a": credentials account_sid and auth_token go together`}},
		{"voice auth token without account sid", "entry_points:\n  - id: a\n    provider: voice\n    address: \"+15558675310\"\n    credentials:\n      auth_token: SET_VAR\n",
			[]string{`line 6: entry point "a": credentials account_sid and auth_token go together`}},
		{"twilio account sid with a token not set", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n    credentials:\n      account_sid: SET_VAR\n      auth_token: NOT_SET_TOKEN\n",
			[]string{`line 7: entry point "a": credential auth_token: variable NOT_SET_TOKEN is not set`, `line 6: entry point "a": credentials account_sid and auth_token go together`}},
		{"whatsapp app secret without verify token", "entry_points:\n  - id: a\n    provider: whatsapp\n    address: \"106540352242922\"\n    credentials:\n      access_token: SET_VAR\n      app_secret: SET_VAR\n",
			[]string{`line 6: entry point "a": credentials app_secret and verify_token go together`}},
		{"messenger verify token without app secret", "entry_points:\n  - id: a\n    provider: messenger\n    address: \"1234567890\"\n    credentials:\n      verify_token: SET_VAR\n",
			[]string{`line 6: entry point "a": credentials app_secret and verify_token go together`}},
		{"instagram app secret without verify token", "entry_points:\n  - id: a\n    provider: instagram\n    address: \"1784140000\"\n    credentials:\n      app_secret: SET_VAR\n",
			[]string{`line 6: entry point "a": credentials app_secret and verify_token go together`}},
		{"meta app of its own", "entry_points:\n  - id: a\n    provider: instagram\n    address: \"1784140000\"\n    credentials:\n      app_secret: SET_VAR\n      verify_token: SET_VAR\n", nil},
		{"meta page token alone", "entry_points:\n  - id: a\n    provider: messenger\n    address: \"1234567890\"\n    credentials:\n      page_access_token: SET_VAR\n", nil},
		{"twilio account of its own", "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n    credentials:\n      account_sid: SET_VAR\n      auth_token: SET_VAR\n", nil},
		{"bad id", "entry_points:\n  - id: Support_US\n    provider: webchat\n", []string{`line 2: id must be 1 to 64 characters`}},
		{"missing id", "entry_points:\n  - provider: webchat\n", []string{`line 2: id is required`}},
		{"round robin without agents", "entry_points:\n  - id: a\n    provider: webchat\n    routing: round_robin\n", []string{`line 4: entry point "a": round_robin routing needs agents`}},
		{"unknown routing", "entry_points:\n  - id: a\n    provider: webchat\n    routing: random\n", []string{`line 4: entry point "a": routing must be none or round_robin`}},
		{"zero duration", "entry_points:\n  - id: a\n    provider: webchat\n    reopen_window: 0s\n    auto_close_after: soon\n",
			[]string{`line 4: entry point "a": reopen_window must be a duration above 0`, `line 5: entry point "a": auto_close_after must be a duration above 0`}},
		{"two defaults", "entry_points:\n  - id: a\n    provider: sendgrid\n    address: a.example.com\n    default: true\n  - id: b\n    provider: sendgrid\n    address: b.example.com\n    default: true\n",
			[]string{`line 6: entry point "b": entry point "a" (line 2) is already the default of sendgrid`}},
		{"bad default", "entry_points:\n  - id: a\n    provider: webchat\n    default: maybe\n", []string{`line 4: entry point "a": default must be true or false`}},
		{"empty", "entry_points: []\n", []string{`line 1: entry_points is empty`}},
		{"not a mapping", "- id: a\n", []string{`the file must be a mapping with the key entry_points`}},
		{"yaml error", "entry_points:\n  - id: \"abc123-a-real-token\n", []string{`not valid YAML (line `}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := ParseEntryPoints([]byte(tc.file), secretEnv("SET_VAR"))
			if len(problems) != len(tc.want) {
				t.Fatalf("problems %q, want %d: %q", problems, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(problems[i], w) {
					t.Errorf("problem %q, want it to start %q", problems[i], w)
				}
			}
			for _, p := range problems {
				if strings.Contains(p, secretValue) || strings.Contains(p, "abc123-a-real-token") || strings.Contains(p, "5310") {
					t.Errorf("a problem shows a value: %q", p)
				}
			}
		})
	}
}

// Every problem of a file is reported at once; Load refuses to start with
// them, and the credential variables' values appear nowhere.
func TestEntryPointsFileLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry-points.yaml")
	bad := "entry_points:\n  - id: a\n    provider: twilio\n    address: \"+15558675310\"\n    credentials:\n      auth_token: TOKEN_A\n      account_sid: SID_A\n  - id: a\n    provider: webchat\n    colour: red\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(env(map[string]string{"GATEWAY_ENTRY_POINTS": path, "TOKEN_A": secretValue}))
	if err == nil {
		t.Fatal("invalid entry points accepted")
	}
	for _, w := range []string{"GATEWAY_ENTRY_POINTS", `line 7: entry point "a": credential account_sid: variable SID_A is not set`,
		`line 10: unknown key "colour"`, `line 8: entry point "a": id is already used at line 2`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), secretValue) {
		t.Errorf("error shows a credential: %q", err)
	}
	if err := os.WriteFile(path, []byte(goodEntryPoints), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"GATEWAY_ENTRY_POINTS": path,
		"TWILIO_ACCOUNT_SID_US": secretValue, "TWILIO_AUTH_TOKEN_US": secretValue}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EntryPoints) != 3 || c.EntryPoints[0].ID != "support-us" || c.EntryPointsFile != path {
		t.Fatalf("entry points %+v", c.EntryPoints)
	}
	if _, err := Load(env(map[string]string{"GATEWAY_ENTRY_POINTS": filepath.Join(t.TempDir(), "none.yaml")})); err == nil ||
		!strings.Contains(err.Error(), "GATEWAY_ENTRY_POINTS") {
		t.Errorf("missing file: %v", err)
	}
}

// Without the file, one entry point per provider whose webhooks are
// enabled, with the ids conversations already carry and inbox default.
func TestDerivedEntryPoints(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EntryPoints) != 1 || c.EntryPoints[0].ID != "webchat" || c.EntryPoints[0].Inbox != "default" {
		t.Fatalf("nothing configured: %+v", c.EntryPoints)
	}
	c, err = Load(env(map[string]string{"TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM_NUMBER": "+15558675310",
		"META_APP_SECRET": "s", "META_VERIFY_TOKEN": "v", "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
		"SENDGRID_INBOUND_USER": "u", "SENDGRID_INBOUND_PASSWORD": "p", "SENDGRID_FROM_EMAIL": "Support@Example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ep := range c.EntryPoints {
		ids = append(ids, ep.ID)
		if ep.ID != ep.Provider || ep.Inbox != "default" || ep.Routing != RoutingNone || !ep.Default || len(ep.Credentials) > 0 {
			t.Errorf("derived %+v", ep)
		}
	}
	want := []string{"twilio", "voice", "whatsapp", "messenger", "instagram", "sendgrid", "webchat"}
	if !slices.Equal(ids, want) {
		t.Fatalf("derived ids %v, want %v", ids, want)
	}
	if c.EntryPoints[0].Address != "+15558675310" || c.EntryPoints[2].Address != "106540352242922" || c.EntryPoints[5].Address != "support@example.com" {
		t.Errorf("derived addresses: %+v", c.EntryPoints)
	}
	// Meta needs both its secret and its verify token, as its connector does.
	c, _ = Load(env(map[string]string{"META_APP_SECRET": "s"}))
	if len(c.EntryPoints) != 1 {
		t.Errorf("META_APP_SECRET alone: %+v", c.EntryPoints)
	}
}

// The README's example file is valid as documented.
func TestEntryPointsREADMEExample(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "`GATEWAY_ENTRY_POINTS` names a YAML file of them instead:\n\n```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no entry points example")
	}
	eps, problems := ParseEntryPoints([]byte(example), secretEnv("TWILIO_ACCOUNT_SID_US", "TWILIO_AUTH_TOKEN_US",
		"WHATSAPP_ACCESS_TOKEN_EU", "META_APP_SECRET_EU", "META_VERIFY_TOKEN_EU", "PAGE_TOKEN_SHOP", "PAGE_TOKEN_HELP",
		"META_APP_SECRET_HELP", "META_VERIFY_TOKEN_HELP"))
	if len(problems) > 0 || len(eps) != 7 {
		t.Fatalf("README example: %d entry points, problems %q", len(eps), problems)
	}
}

// An entry point's credential is read from the variable the file names,
// when asked; one the file does not set, and every credential of a derived
// entry point, is "".
func TestEntryPointCredential(t *testing.T) {
	eps, problems := ParseEntryPoints([]byte(goodEntryPoints), secretEnv("TWILIO_ACCOUNT_SID_US", "TWILIO_AUTH_TOKEN_US"))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if got := eps[0].Credential("auth_token"); got != secretValue {
		t.Errorf("auth_token %q", got)
	}
	if got := eps[1].Credential("api_key"); got != "" {
		t.Errorf("api_key of an entry point without credentials %q", got)
	}
	for _, ep := range DerivedEntryPoints(Config{TwilioAuthToken: "t", TwilioAccountSID: "AC1"}) {
		if got := ep.Credential("auth_token"); got != "" {
			t.Errorf("derived %s: auth_token %q", ep.ID, got)
		}
	}
}

// The README's example of two Twilio accounts is valid as documented.
func TestEntryPointsREADMETwoTwilioAccounts(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\nTwo Twilio accounts with a number each:\n\n```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no example of two Twilio accounts")
	}
	eps, problems := ParseEntryPoints([]byte(example), secretEnv("TWILIO_ACCOUNT_SID_US", "TWILIO_AUTH_TOKEN_US",
		"TWILIO_ACCOUNT_SID_UK", "TWILIO_AUTH_TOKEN_UK"))
	if len(problems) > 0 || len(eps) != 2 || eps[1].Credential("auth_token") != secretValue || !eps[0].Default {
		t.Fatalf("README example: %+v, problems %q", eps, problems)
	}
}

// The README's example of two voice numbers is valid as documented: one
// on the connector's account (the default), one on an account of its own.
func TestEntryPointsREADMETwoVoiceNumbers(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\nTwo voice numbers, one on an account of its own:\n\n```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no example of two voice numbers")
	}
	eps, problems := ParseEntryPoints([]byte(example), secretEnv("TWILIO_ACCOUNT_SID_UK", "TWILIO_AUTH_TOKEN_UK"))
	if len(problems) > 0 || len(eps) != 2 || eps[0].Provider != ProviderVoice || !eps[0].Default ||
		eps[1].Credential("auth_token") != secretValue || !(Config{}).EntryPointEnabled(eps[1]) {
		t.Fatalf("README example: %+v, problems %q", eps, problems)
	}
}

// The README's example of two SendGrid entry points is valid as
// documented: a mailbox with credentials of its own and a domain.
func TestEntryPointsREADMETwoSendGridEntryPoints(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\nTwo SendGrid entry points, a mailbox on an account of its own and a domain on the connector's:\n\n```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no example of two SendGrid entry points")
	}
	eps, problems := ParseEntryPoints([]byte(example), secretEnv("SENDGRID_EU_API_KEY", "SENDGRID_EU_INBOUND_USER",
		"SENDGRID_EU_INBOUND_PASSWORD", "SENDGRID_EU_EVENT_PUBLIC_KEY"))
	if len(problems) > 0 || len(eps) != 2 || eps[0].Credential("inbound_password") != secretValue || eps[1].Address != "example.com" || !eps[1].Default {
		t.Fatalf("README example: %+v, problems %q", eps, problems)
	}
}

// An entry point's webhooks are on with its provider's credentials, or
// with webhook credentials of its own (which give it its own routes).
func TestEntryPointEnabled(t *testing.T) {
	file := "entry_points:\n  - id: mail-eu\n    provider: sendgrid\n    address: support@eu.example\n    credentials:\n      inbound_user: EU_USER\n      inbound_password: EU_PASSWORD\n" +
		"  - id: mail\n    provider: sendgrid\n    address: example.com\n    credentials:\n      api_key: EU_KEY\n" +
		"  - id: uk\n    provider: twilio\n    address: \"+447700900123\"\n    credentials:\n      account_sid: UK_SID\n      auth_token: UK_TOKEN\n" +
		"  - id: us\n    provider: twilio\n    address: \"+15558675310\"\n" +
		"  - id: calls-uk\n    provider: voice\n    address: \"+447700900123\"\n    credentials:\n      account_sid: UK_SID\n      auth_token: UK_TOKEN\n" +
		"  - id: calls-us\n    provider: voice\n    address: \"+15558675310\"\n"
	eps, problems := ParseEntryPoints([]byte(file), secretEnv("EU_USER", "EU_PASSWORD", "EU_KEY", "UK_SID", "UK_TOKEN"))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	want := map[string]bool{"mail-eu": true, "mail": false, "uk": true, "us": false, "calls-uk": true, "calls-us": false}
	for _, ep := range eps {
		if got := (Config{}).EntryPointEnabled(ep); got != want[ep.ID] {
			t.Errorf("%s without the provider's credentials: enabled %v, want %v", ep.ID, got, want[ep.ID])
		}
		if !(Config{SendGridInboundUser: "u", SendGridInboundPassword: "p", TwilioAuthToken: "t"}).EntryPointEnabled(ep) {
			t.Errorf("%s with the provider's credentials: not enabled", ep.ID)
		}
	}
}
