package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/opengateway/gateway/normalize"
)

// EntryPoint is one way in: a Twilio number, a WhatsApp phone number id, a
// Facebook page or Instagram account, an inbound email address or domain, a
// chat site. GATEWAY_ENTRY_POINTS names a YAML file of them; without it one
// is derived per configured provider.
type EntryPoint struct {
	ID       string
	Provider string
	// Address is the business address, canonical: E.164 for twilio and
	// voice, lower case for email; "" for webchat.
	Address string
	// Inbox is where conversations that start here go ("default").
	Inbox string
	// Routing is RoutingNone or RoutingRoundRobin over Agents.
	Routing string
	Agents  []string
	// ReopenWindow and AutoCloseAfter override the channel's; 0 when unset.
	ReopenWindow, AutoCloseAfter time.Duration
	// Credentials maps a credential name (auth_token) to the name of the
	// environment variable holding it; the value is never kept here.
	Credentials map[string]string
	// Default marks the provider's entry point for business addresses no
	// entry point has.
	Default bool
	// Line is the entry's line in the file; 0 when derived.
	Line int
	// getenv reads the variables Credentials name (nil when derived).
	getenv func(string) string
}

// Credential is the value of the credential name (auth_token): the
// variable Credentials names for it, read when asked; "" when the entry
// point does not set it.
func (ep EntryPoint) Credential(name string) string {
	v, ok := ep.Credentials[name]
	if !ok || ep.getenv == nil {
		return ""
	}
	return strings.TrimSpace(ep.getenv(v))
}

// Entry point providers.
const (
	ProviderTwilio    = "twilio"
	ProviderVoice     = "voice"
	ProviderWhatsApp  = "whatsapp"
	ProviderMessenger = "messenger"
	ProviderInstagram = "instagram"
	ProviderSendGrid  = "sendgrid"
	ProviderWebChat   = "webchat"
)

// Routings of an entry point.
const (
	RoutingNone       = "none"
	RoutingRoundRobin = "round_robin"
)

// EntryPointCredentials are, by provider, the credential names an entry
// point may set (each to the name of an environment variable).
var EntryPointCredentials = map[string][]string{
	ProviderTwilio:    {"account_sid", "auth_token"},
	ProviderVoice:     {"account_sid", "auth_token"},
	ProviderWhatsApp:  {"access_token", "app_secret", "verify_token"},
	ProviderMessenger: {"page_access_token", "app_secret", "verify_token"},
	ProviderInstagram: {"page_access_token", "app_secret", "verify_token"},
	ProviderSendGrid:  {"api_key", "inbound_user", "inbound_password", "event_public_key"},
	ProviderWebChat:   {},
}

// entryPointProviders are the providers in the order derived entry points
// are listed.
var entryPointProviders = []string{ProviderTwilio, ProviderVoice, ProviderWhatsApp, ProviderMessenger,
	ProviderInstagram, ProviderSendGrid, ProviderWebChat}

// MaxEntryPointsFile is the largest entry points file read.
const MaxEntryPointsFile = 1 << 20

// WebhooksEnabled reports whether a provider's webhooks are on: its
// webhook credentials are set (as the connectors decide). Web chat always is.
func (c Config) WebhooksEnabled(provider string) bool {
	switch provider {
	case ProviderTwilio, ProviderVoice:
		return c.TwilioAuthToken != ""
	case ProviderWhatsApp, ProviderMessenger, ProviderInstagram:
		return c.MetaAppSecret != "" && c.MetaVerifyToken != ""
	case ProviderSendGrid:
		return c.SendGridInboundUser != "" && c.SendGridInboundPassword != ""
	case ProviderWebChat:
		return true
	}
	return false
}

// EntryPointEnabled reports whether an entry point's webhooks are on: its
// provider's are (WebhooksEnabled), or it has webhook credentials of its
// own (a Twilio or voice auth_token; SendGrid inbound_user with inbound_password),
// which give it routes of its own.
func (c Config) EntryPointEnabled(ep EntryPoint) bool {
	switch {
	case c.WebhooksEnabled(ep.Provider):
		return true
	case ep.Provider == ProviderTwilio, ep.Provider == ProviderVoice:
		return ep.Credential("auth_token") != ""
	case ep.Provider == ProviderSendGrid:
		return ep.Credential("inbound_user") != "" && ep.Credential("inbound_password") != ""
	}
	return false
}

// DerivedEntryPoints are the entry points without a file: one per provider
// whose webhooks are enabled, named by the provider, inbox "default", the
// address from the provider's variables.
func DerivedEntryPoints(c Config) []EntryPoint {
	address := map[string]string{ProviderWhatsApp: c.WhatsAppPhoneNumberID}
	if p, err := normalize.CanonicalPhone(c.TwilioFromNumber); err == nil && c.TwilioFromNumber != "" {
		address[ProviderTwilio], address[ProviderVoice] = p, p
	}
	if e, _, err := normalize.CanonicalEmail(c.SendGridFromEmail); err == nil && c.SendGridFromEmail != "" {
		address[ProviderSendGrid] = e
	}
	var out []EntryPoint
	for _, p := range entryPointProviders {
		if c.WebhooksEnabled(p) {
			out = append(out, EntryPoint{ID: p, Provider: p, Address: address[p], Inbox: "default",
				Routing: RoutingNone, Default: true})
		}
	}
	return out
}

// LoadEntryPoints reads and validates the file at path; getenv tells which
// credential variables are set. Every problem is reported at once, each
// naming the line or the id and never a value from the file or a variable.
func LoadEntryPoints(path string, getenv func(string) string) ([]EntryPoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: GATEWAY_ENTRY_POINTS: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxEntryPointsFile+1)); err != nil {
		return nil, fmt.Errorf("config: GATEWAY_ENTRY_POINTS: %w", err)
	}
	if buf.Len() > MaxEntryPointsFile {
		return nil, fmt.Errorf("config: GATEWAY_ENTRY_POINTS: %s is larger than %d bytes", path, MaxEntryPointsFile)
	}
	eps, problems := ParseEntryPoints(buf.Bytes(), getenv)
	if len(problems) > 0 {
		return nil, fmt.Errorf("config: GATEWAY_ENTRY_POINTS: %s", strings.Join(problems, "; "))
	}
	return eps, nil
}

// ParseEntryPoints parses and validates an entry points file; problems name
// the line or the id, never a value.
func ParseEntryPoints(b []byte, getenv func(string) string) ([]EntryPoint, []string) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		// yaml's error can quote the file's text: only the line is kept.
		where := ""
		if m := yamlLine.FindString(err.Error()); m != "" {
			where = " (" + m + ")"
		}
		return nil, []string{"not valid YAML" + where}
	}
	p := &epParser{getenv: getenv}
	list := p.top(&doc)
	if list == nil {
		return nil, p.problems
	}
	var out []EntryPoint
	for _, n := range list.Content {
		if ep, ok := p.entry(n); ok {
			out = append(out, ep)
		}
	}
	p.across(out)
	return out, p.problems
}

// epParser collects the problems of one file.
type epParser struct {
	getenv   func(string) string
	problems []string
}

func (p *epParser) bad(line int, id, format string, args ...any) {
	who := ""
	if id != "" {
		who = fmt.Sprintf(" entry point %q:", id)
	}
	p.problems = append(p.problems, fmt.Sprintf("line %d:%s ", line, who)+fmt.Sprintf(format, args...))
}

// top returns the sequence under entry_points, or nil.
func (p *epParser) top(doc *yaml.Node) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		p.problems = append(p.problems, "the file must be a mapping with the key entry_points")
		return nil
	}
	m := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value != "entry_points" {
			p.bad(k.Line, "", "unknown key %q (the file has only entry_points)", clip(k.Value))
			continue
		}
		list = v
	}
	switch {
	case list == nil:
		p.problems = append(p.problems, "the key entry_points is missing")
	case list.Kind != yaml.SequenceNode:
		p.bad(list.Line, "", "entry_points must be a list")
		return nil
	case len(list.Content) == 0:
		p.bad(list.Line, "", "entry_points is empty")
		return nil
	}
	return list
}

var (
	envName   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)
	wabaID    = regexp.MustCompile(`^[0-9]{1,32}$`)
	hostLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// entryKeys are the keys an entry point may have.
var entryKeys = []string{"id", "provider", "address", "inbox", "routing", "agents", "reopen_window",
	"auto_close_after", "credentials", "default"}

// entry reads one entry point; ok is false when it is too broken to check
// against the others.
func (p *epParser) entry(n *yaml.Node) (EntryPoint, bool) {
	ep := EntryPoint{Line: n.Line, Inbox: "default", Routing: RoutingNone, getenv: p.getenv}
	if n.Kind != yaml.MappingNode {
		p.bad(n.Line, "", "an entry point must be a mapping")
		return ep, false
	}
	vals := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(entryKeys, k.Value):
			p.bad(k.Line, "", "unknown key %q", clip(k.Value))
		case vals[k.Value] != nil:
			p.bad(k.Line, "", "key %q is repeated", k.Value)
		default:
			vals[k.Value] = v
		}
	}
	ep.ID = p.scalar(vals, "id", "")
	switch {
	case ep.ID == "":
		p.bad(n.Line, "", "id is required")
	case len(ep.ID) > 64 || !entryPointID.MatchString(ep.ID):
		p.bad(vals["id"].Line, "", "id must be 1 to 64 characters of a-z, 0-9 and -")
		ep.ID = ""
	}
	id := ep.ID
	ep.Provider = p.scalar(vals, "provider", id)
	if _, ok := EntryPointCredentials[ep.Provider]; !ok {
		line := n.Line
		if v := vals["provider"]; v != nil {
			line = v.Line
		}
		p.bad(line, id, "provider must be one of %s", strings.Join(entryPointProviders, ", "))
		return ep, false
	}
	p.address(&ep, vals)
	p.routing(&ep, vals)
	ep.ReopenWindow = p.duration(vals, "reopen_window", id)
	ep.AutoCloseAfter = p.duration(vals, "auto_close_after", id)
	p.credentials(&ep, vals["credentials"])
	if v := vals["default"]; v != nil {
		if v.Kind != yaml.ScalarNode || v.Decode(&ep.Default) != nil {
			p.bad(v.Line, id, "default must be true or false")
		}
	}
	return ep, ep.ID != ""
}

var entryPointID = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// scalar is the string value of key, "" when absent; a problem when it is
// not a scalar.
func (p *epParser) scalar(vals map[string]*yaml.Node, key, id string) string {
	v := vals[key]
	if v == nil {
		return ""
	}
	if v.Kind != yaml.ScalarNode {
		p.bad(v.Line, id, "%s must be a single value", key)
		return ""
	}
	return strings.TrimSpace(v.Value)
}

// address checks and canonicalizes the business address.
func (p *epParser) address(ep *EntryPoint, vals map[string]*yaml.Node) {
	a := p.scalar(vals, "address", ep.ID)
	line := ep.Line
	if v := vals["address"]; v != nil {
		line = v.Line
	}
	if ep.Provider == ProviderWebChat {
		if a != "" && !entryPointID.MatchString(a) {
			p.bad(line, ep.ID, "a webchat address must be 1 to 64 characters of a-z, 0-9 and -")
		}
		ep.Address = a
		return
	}
	if a == "" {
		p.bad(line, ep.ID, "address is required for provider %s", ep.Provider)
		return
	}
	switch ep.Provider {
	case ProviderTwilio, ProviderVoice:
		canon, err := normalize.CanonicalPhone(a)
		if err != nil || !strings.HasPrefix(canon, "+") {
			p.bad(line, ep.ID, "address must be a phone number in E.164 (+ country code and number)")
			return
		}
		ep.Address = canon
	case ProviderWhatsApp, ProviderMessenger, ProviderInstagram:
		if !wabaID.MatchString(a) {
			p.bad(line, ep.ID, "address must be the numeric id Meta gives (phone number id, page id or account id)")
			return
		}
		ep.Address = a
	case ProviderSendGrid:
		ep.Address = p.mailAddress(a, line, ep.ID)
	}
}

// mailAddress is an email address or a domain (example.com, written
// without @: it takes mail to every address there), lower-cased.
func (p *epParser) mailAddress(a string, line int, id string) string {
	if strings.HasPrefix(a, "@") {
		p.bad(line, id, "a domain is written without @ (example.com)")
		return ""
	}
	if strings.Contains(a, "@") {
		e, _, err := normalize.CanonicalEmail(a)
		if err != nil || strings.ContainsAny(a, "<> ") {
			p.bad(line, id, "address must be an email address or a domain")
			return ""
		}
		return strings.ToLower(e)
	}
	d := strings.ToLower(a)
	labels := strings.Split(d, ".")
	ok := len(d) <= 253 && len(labels) >= 2
	for _, l := range labels {
		ok = ok && hostLabel.MatchString(l)
	}
	if !ok {
		p.bad(line, id, "address must be an email address or a domain")
		return ""
	}
	return d
}

// routing reads inbox, routing and agents.
func (p *epParser) routing(ep *EntryPoint, vals map[string]*yaml.Node) {
	if inbox := p.scalar(vals, "inbox", ep.ID); inbox != "" {
		if len(inbox) > 64 || !holderName(inbox) {
			p.bad(vals["inbox"].Line, ep.ID, "inbox must be 1 to 64 letters, digits, '.', '_', '-' or '@'")
		}
		ep.Inbox = inbox
	}
	if r := p.scalar(vals, "routing", ep.ID); r != "" {
		if r != RoutingNone && r != RoutingRoundRobin {
			p.bad(vals["routing"].Line, ep.ID, "routing must be none or round_robin")
		}
		ep.Routing = r
	}
	if v := vals["agents"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			p.bad(v.Line, ep.ID, "agents must be a list of agent names")
		} else {
			for _, a := range v.Content {
				if a.Kind != yaml.ScalarNode || !holderName(a.Value) {
					p.bad(a.Line, ep.ID, "an agent must be a name of letters, digits, '.', '_', '-' or '@'")
					continue
				}
				if slices.Contains(ep.Agents, a.Value) {
					p.bad(a.Line, ep.ID, "agent %q is listed twice", a.Value)
					continue
				}
				ep.Agents = append(ep.Agents, a.Value)
			}
		}
	}
	if ep.Routing == RoutingRoundRobin && len(ep.Agents) == 0 {
		line := ep.Line
		if v := vals["routing"]; v != nil {
			line = v.Line
		}
		p.bad(line, ep.ID, "round_robin routing needs agents")
	}
}

// duration reads a duration > 0; 0 when absent.
func (p *epParser) duration(vals map[string]*yaml.Node, key, id string) time.Duration {
	s := p.scalar(vals, key, id)
	if s == "" {
		return 0
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		p.bad(vals[key].Line, id, "%s must be a duration above 0 (like 72h, 30m or 7d)", key)
		return 0
	}
	return d
}

// credentials reads the credential names and checks each variable is set,
// never reading its value into a message.
func (p *epParser) credentials(ep *EntryPoint, v *yaml.Node) {
	if v == nil {
		return
	}
	if v.Kind != yaml.MappingNode {
		p.bad(v.Line, ep.ID, "credentials must be a mapping of credential names to environment variable names")
		return
	}
	allowed := EntryPointCredentials[ep.Provider]
	ep.Credentials = map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		switch {
		case !slices.Contains(allowed, k.Value):
			p.bad(k.Line, ep.ID, "unknown credential %q for provider %s (known: %s)", clip(k.Value), ep.Provider, strings.Join(allowed, ", "))
		case val.Kind != yaml.ScalarNode || !envName.MatchString(val.Value):
			p.bad(val.Line, ep.ID, "credential %s must name an environment variable (A-Z, 0-9, _), not hold a value", k.Value)
		case strings.TrimSpace(p.getenv(val.Value)) == "":
			p.bad(val.Line, ep.ID, "credential %s: variable %s is not set", k.Value, val.Value)
		default:
			ep.Credentials[k.Value] = val.Value
		}
	}
	for _, pair := range credentialPairs[ep.Provider] {
		_, a := ep.Credentials[pair[0]]
		_, b := ep.Credentials[pair[1]]
		if a != b {
			p.bad(v.Line, ep.ID, "credentials %s and %s go together: set both or neither", pair[0], pair[1])
		}
	}
}

// credentialPairs are, by provider, credentials an entry point sets both of
// or neither: one alone would leave its own route off without a word
// (SendGrid's inbound pair), sign or send with one account's token under
// another account's SID (a Twilio account's pair), or check one Meta app's
// signatures with another app's subscription token (a Meta app's pair).
var credentialPairs = map[string][][2]string{
	ProviderTwilio:    {{"account_sid", "auth_token"}},
	ProviderVoice:     {{"account_sid", "auth_token"}},
	ProviderWhatsApp:  {{"app_secret", "verify_token"}},
	ProviderMessenger: {{"app_secret", "verify_token"}},
	ProviderInstagram: {{"app_secret", "verify_token"}},
	ProviderSendGrid:  {{"inbound_user", "inbound_password"}},
}

// across checks what no entry point can alone: unique ids, one entry point
// per provider and address, one default per provider.
func (p *epParser) across(eps []EntryPoint) {
	ids, addrs, defaults := map[string]int{}, map[string]EntryPoint{}, map[string]EntryPoint{}
	for _, ep := range eps {
		if line, ok := ids[ep.ID]; ok {
			p.bad(ep.Line, ep.ID, "id is already used at line %d", line)
		}
		ids[ep.ID] = ep.Line
		key := ep.Provider + "\x00" + ep.Address
		if prev, ok := addrs[key]; ok && ep.Address != "" {
			p.bad(ep.Line, ep.ID, "entry point %q (line %d) has the same %s address", prev.ID, prev.Line, ep.Provider)
		} else if ok && ep.Provider == ProviderWebChat {
			p.bad(ep.Line, ep.ID, "entry point %q (line %d) is the webchat without an address too", prev.ID, prev.Line)
		}
		addrs[key] = ep
		if ep.Default {
			if prev, ok := defaults[ep.Provider]; ok {
				p.bad(ep.Line, ep.ID, "entry point %q (line %d) is already the default of %s", prev.ID, prev.Line, ep.Provider)
			}
			defaults[ep.Provider] = ep
		}
	}
}

// clip shortens a key quoted in a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
