package meta

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

// Webhook paths; an entry point with an app of its own has its own under
// them (WhatsAppPath/{id}, MessengerPath/{id}).
const (
	WhatsAppPath  = "/webhooks/whatsapp"
	MessengerPath = "/webhooks/messenger"
)

// EntryPoint is a WhatsApp phone number, a Facebook page or an Instagram
// account the connector answers for (an entry point of provider whatsapp,
// messenger or instagram in GATEWAY_ENTRY_POINTS).
type EntryPoint struct {
	ID string
	// Provider is ProviderWhatsApp, ProviderMessenger or ProviderInstagram.
	Provider string
	// Address is the phone number id, the page id or the Instagram account
	// id: metadata.phone_number_id, entry[].id.
	Address string
	// AccessToken sends its replies and fetches its media (a WhatsApp
	// access token, a page access token); empty when it uses the
	// connector's (WHATSAPP_ACCESS_TOKEN, MESSENGER_PAGE_ACCESS_TOKEN).
	AccessToken string
	// AppSecret and VerifyToken are its own Meta app's; empty when it uses
	// the connector's (META_APP_SECRET, META_VERIFY_TOKEN). An entry point
	// with an app of its own has its own webhook route (pathOf), signed
	// with its app secret.
	AppSecret, VerifyToken string
	// Default takes the messages to addresses no entry point has.
	Default bool
}

// Own reports whether the entry point has an app of its own.
func (ep EntryPoint) Own() bool { return ep.AppSecret != "" }

// pathOf is the webhook route of the entry point's provider.
func pathOf(provider string) string {
	if provider == ProviderWhatsApp {
		return WhatsAppPath
	}
	return MessengerPath
}

// EntryPoints finds the entry point of an inbound message.
type EntryPoints struct {
	byAddress map[string]EntryPoint // provider NUL address
	byID      map[string]EntryPoint
	def       map[string]string // provider: id
}

// NewEntryPoints indexes eps by provider and address, and by id.
func NewEntryPoints(eps []EntryPoint) *EntryPoints {
	p := &EntryPoints{byAddress: map[string]EntryPoint{}, byID: map[string]EntryPoint{}, def: map[string]string{}}
	for _, ep := range eps {
		if ep.Address != "" {
			p.byAddress[ep.Provider+"\x00"+ep.Address] = ep
		}
		p.byID[ep.ID] = ep
		if ep.Default {
			p.def[ep.Provider] = ep.ID
		}
	}
	return p
}

// find returns the entry point of an item of provider to the business
// address received on the route of entry point fixed ("" for the shared
// route, signed with the connector's app secret). dead is set, with why,
// when no entry point has the address and the provider has no default. An
// address whose entry point has an app of its own is refused on the shared
// route: its webhooks are signed with that app's secret, on its own route.
// On an entry point's own route, another address of the same app (a second
// number or page it serves) is that address's entry point.
func (p *EntryPoints) find(provider, address, fixed string) (id, dead string, err error) {
	ep, known := p.byAddress[provider+"\x00"+address]
	if fixed != "" {
		if known && ep.Own() && ep.AppSecret == p.byID[fixed].AppSecret {
			return ep.ID, "", nil
		}
		return fixed, "", nil
	}
	if known {
		if ep.Own() {
			return "", "", fmt.Errorf("meta: %w: the address of entry point %q, which has an app of its own, on the shared route (its webhooks are %s/%s)",
				webhook.ErrSignature, ep.ID, pathOf(ep.Provider), ep.ID)
		}
		return ep.ID, "", nil
	}
	if d := p.def[provider]; d != "" {
		return d, "", nil
	}
	return "", "no " + provider + " entry point has the business address and none is the default", nil
}

// fixedOf is the entry point id of a request to an entry point's own route
// (WhatsAppPath/{id}, MessengerPath/{id}), "" for the shared route.
func (p *EntryPoints) fixedOf(rawURL, path string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	id, ok := strings.CutPrefix(u.Path, path+"/")
	if ep, known := p.byID[id]; ok && known && ep.Own() && pathOf(ep.Provider) == path {
		return id
	}
	return ""
}

// apply names the entry point of every message of b received on the route
// of entry point fixed, drops the messages no entry point takes (dead says
// why) and refuses the delivery when an item is to the address of an entry
// point with an app of its own on the shared route. A WhatsApp message's
// business address becomes its phone number id, the address its replies
// leave from.
func (p *EntryPoints) apply(b *Batch, fixed string) (dead string, err error) {
	kept := b.Items[:0]
	for _, it := range b.Items {
		if it.Status != nil {
			if _, _, err := p.find(it.Status.Provider, it.address, fixed); err != nil {
				return "", err
			}
			kept = append(kept, it)
			continue
		}
		m := it.Message
		id, why, err := p.find(m.Provider, it.address, fixed)
		if err != nil {
			return "", err
		}
		if why != "" {
			dead = why
			continue
		}
		m.EntryPoint = id
		if m.Provider == ProviderWhatsApp && it.address != "" {
			business := &m.To
			if m.Echo {
				business = &m.From
			}
			if business.Address != it.address {
				m.Extra["display_phone_number"] = business.Address
			}
			*business = normalize.Party{Kind: normalize.KindWhatsApp, Address: it.address}
		}
		kept = append(kept, it)
	}
	b.Items = kept
	return dead, nil
}

// Replay parses a delivery kept on raw.v1 as the route did, finding its
// entry points by the route it came in on or their business addresses.
func (p *EntryPoints) replay(parse parser, path string) webhook.HandlerFunc {
	return func(_ context.Context, r *webhook.Request) (webhook.Result, error) {
		if err := replayable(r); err != nil {
			return webhook.Result{}, err
		}
		return parseResult(r, parse, p, p.fixedOf(r.URL, path))
	}
}

// senders send each reply with the token of the entry point whose address
// it leaves from (the phone number id or page the customer wrote to); an
// address no entry point with a token of its own has leaves with the
// connector's.
type senders struct {
	byFrom map[string]*Sender
	shared *Sender
	// missing names the variable the shared sender needs, for the error
	// when it is not set.
	missing string
}

var (
	_ outbox.Sender   = senders{}
	_ outbox.Splitter = senders{}
)

func (s senders) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	if own, ok := s.byFrom[m.From.Address]; ok {
		return own.Send(ctx, m)
	}
	if s.shared == nil {
		return outbox.Result{}, invalid("no token sends from this %s address (%s is not set)", m.Channel, s.missing)
	}
	return s.shared.Send(ctx, m)
}

// Split implements outbox.Splitter as Sender does.
func (s senders) Split(m outbox.Send) []outbox.Send { return split(m) }

// tokenFetchers fetch each file with the token of the entry point its message
// came in at when that entry point has one of its own, else with the
// connector's.
type tokenFetchers struct {
	byEntryPoint map[string]media.Fetcher
	shared       media.Fetcher
}

var _ media.EntryPointFetcher = tokenFetchers{}

func (f tokenFetchers) Fetch(ctx context.Context, ref string) (io.ReadCloser, string, error) {
	return f.FetchAt(ctx, "", ref)
}

func (f tokenFetchers) FetchAt(ctx context.Context, entryPoint, ref string) (io.ReadCloser, string, error) {
	if own, ok := f.byEntryPoint[entryPoint]; ok {
		return own.Fetch(ctx, ref)
	}
	if f.shared == nil {
		return nil, "", errors.Join(media.ErrPermanent, errors.New("meta: no token fetches this media (WHATSAPP_ACCESS_TOKEN is not set)"))
	}
	return f.shared.Fetch(ctx, ref)
}
