package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// EntryPoint is a Twilio number the connector answers for (an entry point
// of provider twilio in GATEWAY_ENTRY_POINTS).
type EntryPoint struct {
	ID string
	// Address is the number, E.164.
	Address string
	// AccountSID and AuthToken are the entry point's own account; empty
	// when it uses the connector's (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN).
	// An entry point with an account of its own has its own webhooks
	// (MessagingPath/{id}, StatusPath/{id}), signed with its auth token,
	// and its own sender.
	AccountSID, AuthToken string
	// Default takes the messages to numbers no entry point has.
	Default bool
}

// Own reports whether the entry point has an account of its own.
func (ep EntryPoint) Own() bool { return ep.AuthToken != "" }

// EntryPoints finds the entry point of an inbound message or call.
type EntryPoints struct {
	byAddress map[string]EntryPoint
	byID      map[string]EntryPoint
	def       string
	// path is the shared route of their webhooks (MessagingPath, VoicePath)
	// and what says what they take, for messages.
	path, what string
}

// NewEntryPoints indexes the Twilio messaging entry points eps by number and id.
func NewEntryPoints(eps []EntryPoint) *EntryPoints {
	return indexEntryPoints(eps, MessagingPath, "Twilio")
}

// NewVoiceEntryPoints indexes the voice entry points eps (provider voice
// in GATEWAY_ENTRY_POINTS) by number and id: a call finds its entry point
// by the number called.
func NewVoiceEntryPoints(eps []EntryPoint) *EntryPoints {
	return indexEntryPoints(eps, VoicePath, "voice")
}

func indexEntryPoints(eps []EntryPoint, path, what string) *EntryPoints {
	p := &EntryPoints{byAddress: map[string]EntryPoint{}, byID: map[string]EntryPoint{}, path: path, what: what}
	for _, ep := range eps {
		if ep.Address != "" {
			p.byAddress[ep.Address] = ep
		}
		p.byID[ep.ID] = ep
		if ep.Default {
			p.def = ep.ID
		}
	}
	return p
}

// find returns the entry point of a message to the business address to
// received on the route of entry point fixed ("" for the shared route,
// signed with the connector's auth token). dead is set, with why, when no
// entry point has the number and there is no default. A number whose
// entry point has an account of its own is refused on the shared route:
// its webhooks are signed with that account's token, on its own route.
func (p *EntryPoints) find(to normalize.Party, fixed string) (id, dead string, err error) {
	if fixed != "" {
		return fixed, "", nil
	}
	if ep, ok := p.byAddress[to.Address]; ok {
		if ep.Own() {
			return "", "", fmt.Errorf("twilio: %w: the number of entry point %q, which has an account of its own, on the shared route (its webhooks are %s/%s)",
				webhook.ErrSignature, ep.ID, p.path, ep.ID)
		}
		return ep.ID, "", nil
	}
	if p.def != "" {
		return p.def, "", nil
	}
	return "", "no " + p.what + " entry point has the business address and none is the default", nil
}

// fixedOf is the entry point id of a request to an entry point's own
// messaging route (MessagingPath/{id}), "" for the shared route.
func (p *EntryPoints) fixedOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	id, ok := strings.CutPrefix(u.Path, p.path+"/")
	if ep, known := p.byID[id]; ok && known && ep.Own() {
		return id
	}
	return ""
}

// Replay parses a message kept on raw.v1 as Messaging did, finding its
// entry point by the route it came in on or its business address.
func (p *EntryPoints) Replay(_ context.Context, r *webhook.Request) (webhook.Result, error) {
	form, err := parseForm(r)
	if err != nil {
		return webhook.Result{}, err
	}
	return messagingAt(r, form, p, p.fixedOf(r.URL))
}

// senders sends each reply with the account of the entry point whose
// number it leaves from (the business address the customer wrote to);
// a number no entry point with an account of its own has leaves through
// the connector's account.
type senders struct {
	byFrom map[string]*Sender
	shared *Sender
}

var _ outbox.Sender = senders{}

func (s senders) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	if own, ok := s.byFrom[m.From.Address]; ok {
		return own.Send(ctx, m)
	}
	if s.shared == nil {
		return outbox.Result{}, &outbox.SendError{Permanent: true,
			Message: "twilio: no account sends from this number (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set)"}
	}
	return s.shared.Send(ctx, m)
}

// fetchers fetch each media URL with the account its path names
// (/2010-04-01/Accounts/{sid}/...) when an entry point has that account of
// its own, else with the connector's.
type fetchers struct {
	bySID  map[string]media.Fetcher
	shared media.Fetcher
}

var _ media.Fetcher = fetchers{}

func (f fetchers) Fetch(ctx context.Context, ref string) (io.ReadCloser, string, error) {
	if u, err := url.Parse(ref); err == nil {
		rest, ok := strings.CutPrefix(u.Path, "/2010-04-01/Accounts/")
		sid, _, _ := strings.Cut(rest, "/")
		if own, found := f.bySID[sid]; ok && found {
			return own.Fetch(ctx, ref)
		}
	}
	if f.shared == nil {
		return nil, "", errors.New("twilio: no account fetches this media (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set)")
	}
	return f.shared.Fetch(ctx, ref)
}
