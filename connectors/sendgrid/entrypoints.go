package sendgrid

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/outbox"
)

// Webhook paths; an entry point with credentials of its own has its own
// routes under them (InboundPath/{id}, EventsPath/{id}).
const (
	InboundPath = "/webhooks/sendgrid/inbound"
	EventsPath  = "/webhooks/sendgrid/events"
)

// EntryPoint is a mailbox or a mail domain the connector answers for (an
// entry point of provider sendgrid in GATEWAY_ENTRY_POINTS).
type EntryPoint struct {
	ID string
	// Address is an email address (support@example.com) or a domain
	// (example.com, without @), lower case. A domain takes mail to any
	// address at that domain (not its subdomains); an entry point with the
	// exact address wins over it.
	Address string
	// APIKey sends the replies that leave from this entry point; empty: the
	// connector's (SENDGRID_API_KEY).
	APIKey string
	// InboundUser and InboundPassword, both set, give the entry point its
	// own Inbound Parse route (InboundPath/{id}) behind that basic auth.
	InboundUser, InboundPassword string
	// EventPublicKey gives the entry point its own Event Webhook route
	// (EventsPath/{id}) verified with that key.
	EventPublicKey string
	// Default takes the mail to addresses no entry point has.
	Default bool
}

// OwnInbound reports whether the entry point has inbound credentials of
// its own.
func (ep EntryPoint) OwnInbound() bool { return ep.InboundUser != "" && ep.InboundPassword != "" }

// isDomain reports whether the entry point's address is a whole domain.
func (ep EntryPoint) isDomain() bool { return !strings.Contains(ep.Address, "@") }

// EntryPoints finds the entry point of an inbound email and of a reply.
type EntryPoints struct {
	byAddress, byDomain map[string]EntryPoint
	byID                map[string]EntryPoint
	def                 string
}

// NewEntryPoints indexes eps by address, domain and id.
func NewEntryPoints(eps []EntryPoint) *EntryPoints {
	p := &EntryPoints{byAddress: map[string]EntryPoint{}, byDomain: map[string]EntryPoint{}, byID: map[string]EntryPoint{}}
	for _, ep := range eps {
		ep.Address = strings.ToLower(strings.TrimSpace(ep.Address))
		switch {
		case ep.Address == "":
		case ep.isDomain():
			p.byDomain[ep.Address] = ep
		default:
			p.byAddress[ep.Address] = ep
		}
		p.byID[ep.ID] = ep
		if ep.Default {
			p.def = ep.ID
		}
	}
	return p
}

// match is the entry point of one address: the entry point of that exact
// address, else the one of its domain.
func (p *EntryPoints) match(addr string) (EntryPoint, bool) {
	addr = strings.ToLower(addr)
	if ep, ok := p.byAddress[addr]; ok {
		return ep, true
	}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		ep, ok := p.byDomain[addr[i+1:]]
		return ep, ok
	}
	return EntryPoint{}, false
}

// matchIn is the entry point of the first address of list an entry point
// takes, and that address: every exact address is tried before any
// domain, so an exact address wins wherever it is in the list. An entry
// point take refuses is passed over, and reported in refused.
func (p *EntryPoints) matchIn(list []string, take func(EntryPoint) bool) (ep EntryPoint, addr string, ok bool, refused *EntryPoint) {
	for _, exact := range []bool{true, false} {
		for _, r := range list {
			var found bool
			if exact {
				ep, found = p.byAddress[r]
			} else {
				ep, found = p.match(r)
			}
			switch {
			case !found:
			case take(ep):
				return ep, r, true, nil
			case refused == nil:
				refused = &ep
			}
		}
	}
	return EntryPoint{}, "", false, refused
}

// find returns the entry point of an email to rcpt received on the route
// of entry point fixed ("" for the shared route), and the recipient it was
// written to ("" when none is the entry point's): the envelope's
// recipients (where SendGrid delivered it) are tried first, then the To
// header's. dead is set, with why, when no entry point has a recipient and
// there is no default. On the shared route an entry point with inbound
// credentials of its own is passed over (its mail comes, with those
// credentials, on its own route); an email only such an entry point takes
// is refused.
func (p *EntryPoints) find(rcpt recipients, fixed string) (id, to, dead string, err error) {
	take := func(ep EntryPoint) bool { return !ep.OwnInbound() }
	if fixed != "" {
		take = func(ep EntryPoint) bool { return ep.ID == fixed }
	}
	var refused *EntryPoint
	for _, list := range [][]string{rcpt.envelope, rcpt.header} {
		ep, r, ok, ref := p.matchIn(list, take)
		if ok {
			return ep.ID, r, "", nil
		}
		if refused == nil {
			refused = ref
		}
	}
	switch {
	case fixed != "":
		return fixed, "", "", nil
	case refused != nil:
		return "", "", "", fmt.Errorf("sendgrid: %w: mail to entry point %q, which has inbound credentials of its own, on the shared route (its webhook is %s/%s)",
			webhook.ErrUnauthorized, refused.ID, InboundPath, refused.ID)
	case p.def != "":
		return p.def, "", "", nil
	}
	return "", "", "no SendGrid entry point has the recipient address and none is the default", nil
}

// fixedOf is the entry point id of a request to an entry point's own
// inbound route (InboundPath/{id}), "" for the shared route.
func (p *EntryPoints) fixedOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	id, ok := strings.CutPrefix(u.Path, InboundPath+"/")
	if ep, known := p.byID[id]; ok && known && ep.OwnInbound() {
		return id
	}
	return ""
}

// senders sends each reply with the API key of the entry point it leaves
// from (the address the customer wrote to: its exact address, else its
// domain's); an entry point without a key of its own, or an address no
// entry point has, sends with the connector's key.
type senders struct {
	eps    *EntryPoints
	byID   map[string]*Sender
	shared *Sender
}

var _ outbox.Sender = senders{}

func (s senders) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	if ep, ok := s.eps.match(m.From.Address); ok {
		if own := s.byID[ep.ID]; own != nil {
			return own.Send(ctx, m)
		}
	}
	if s.shared == nil {
		return outbox.Result{}, &outbox.SendError{Permanent: true,
			Message: "sendgrid: no API key sends from this address (SENDGRID_API_KEY is not set)"}
	}
	return s.shared.Send(ctx, m)
}
