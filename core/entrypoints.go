package core

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// Entry point ids derived without an entry points file: one per provider
// kind. An entry point is one way in (a Twilio number, a WhatsApp phone
// number id, a Facebook page or Instagram account, an inbound email address,
// a chat site).
const (
	EntryPointTwilio    = "twilio"    // SMS, MMS and WhatsApp through Twilio
	EntryPointVoice     = "voice"     // Twilio Voice
	EntryPointWhatsApp  = "whatsapp"  // WhatsApp Cloud API
	EntryPointMessenger = "messenger" // Facebook Messenger
	EntryPointInstagram = "instagram" // Instagram messaging
	EntryPointSendGrid  = "sendgrid"  // inbound email
	EntryPointWebChat   = "webchat"   // the web chat
)

// DerivedEntryPoints are the ids EntryPointOf derives, in a fresh slice.
func DerivedEntryPoints() []string {
	return []string{EntryPointTwilio, EntryPointVoice, EntryPointWhatsApp, EntryPointMessenger, EntryPointInstagram,
		EntryPointSendGrid, EntryPointWebChat}
}

// EntryPointOther is the metrics label of an entry point no configured or
// derived id names, so that labels stay bounded by the configuration.
const EntryPointOther = "other"

// EntryPointLabels bounds an entry point id for a metric label: known ids
// as they are, anything else EntryPointOther.
type EntryPointLabels map[string]bool

// NewEntryPointLabels knows ids and the derived ids.
func NewEntryPointLabels(ids []string) EntryPointLabels {
	l := EntryPointLabels{}
	for _, id := range append(DerivedEntryPoints(), ids...) {
		l[id] = true
	}
	return l
}

// Of returns the label of the entry point id.
func (l EntryPointLabels) Of(id string) string {
	if l[id] {
		return id
	}
	return EntryPointOther
}

// MaxEntryPointLen is the longest entry point id.
const MaxEntryPointLen = 64

// entryPointByProvider maps a message's provider (the connectors' provider
// names) to its derived entry point.
var entryPointByProvider = map[string]string{
	"twilio": EntryPointTwilio, "meta_whatsapp": EntryPointWhatsApp, "meta_messenger": EntryPointMessenger,
	"meta_instagram": EntryPointInstagram, "sendgrid": EntryPointSendGrid, "webchat": EntryPointWebChat,
}

// entryPointByChannel is the derived entry point of a channel when the
// provider is not known (a conversation opened on a channel no sender is
// configured for).
var entryPointByChannel = map[string]string{
	normalize.ChannelSMS: EntryPointTwilio, normalize.ChannelMMS: EntryPointTwilio,
	normalize.ChannelVoice: EntryPointVoice, normalize.ChannelWhatsApp: EntryPointWhatsApp,
	normalize.ChannelMessenger: EntryPointMessenger, normalize.ChannelInstagram: EntryPointInstagram,
	normalize.ChannelEmail: EntryPointSendGrid, normalize.ChannelChat: EntryPointWebChat,
}

// EntryPointOf is the derived entry point of a message that came through
// provider on channel: one per provider kind, Twilio Voice apart from Twilio
// messaging; "" when neither is known. A GATEWAY_ENTRY_POINTS file will map
// business addresses to ids instead.
func EntryPointOf(provider, channel string) string {
	if channel == normalize.ChannelVoice {
		return EntryPointVoice
	}
	if id, ok := entryPointByProvider[provider]; ok {
		return id
	}
	return entryPointByChannel[channel]
}

// MessageEntryPoint is the entry point a message came in at: the one its
// connector found (normalize.Message.EntryPoint), else the one derived
// from its provider and channel (also for an id that cannot name an entry
// point: inbound.v1 is not trusted to keep the id's form).
func MessageEntryPoint(m *normalize.Message) string {
	return EntryPointAt(m.EntryPoint, m.Provider, m.Channel)
}

// EntryPointAt is MessageEntryPoint of a message that named the entry
// point named (maybe "") and came through provider on channel.
func EntryPointAt(named, provider, channel string) string {
	if named != "" && CheckEntryPoint(named) == nil {
		return named
	}
	return EntryPointOf(provider, channel)
}

// CheckEntryPoint reports whether id can name an entry point: 1 to
// MaxEntryPointLen characters of [a-z0-9-].
func CheckEntryPoint(id string) error {
	if id == "" || len(id) > MaxEntryPointLen || strings.IndexFunc(id, notEntryPointRune) >= 0 {
		return Errorf(EINVALID, "entry_point must be 1 to %d characters of a-z, 0-9 and -", MaxEntryPointLen)
	}
	return nil
}

func notEntryPointRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
}

// EntryPoint is an entry point as the operator API lists it: never a
// credential.
type EntryPoint struct {
	ID       string   `json:"id"`
	Provider string   `json:"provider"`
	Address  string   `json:"address"`
	Inbox    string   `json:"inbox"`
	Routing  string   `json:"routing"`
	Agents   []string `json:"agents"`
	Default  bool     `json:"default"`
	// Enabled is whether its provider's webhooks are on (their credentials
	// are set).
	Enabled bool `json:"enabled"`
	// LastWebhookAt is the latest customer message of the conversations
	// that started here, from the database (so every instance agrees); nil
	// when there is none.
	LastWebhookAt *time.Time `json:"last_webhook_at"`
}

// EntryPoints lists eps, each with the latest customer message of the
// conversations that started there.
func (s *Service) EntryPoints(ctx context.Context, eps []EntryPoint) ([]EntryPoint, error) {
	var last map[string]time.Time
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		last, err = tx.Query.LastInboundByEntryPoint(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]EntryPoint, len(eps))
	for i, ep := range eps {
		if ep.Agents == nil {
			ep.Agents = []string{}
		}
		ep.LastWebhookAt = nil
		if at, ok := last[ep.ID]; ok {
			ep.LastWebhookAt = &at
		}
		out[i] = ep
	}
	return out, nil
}

// routeRoundRobin assigns a conversation a customer started at an entry
// point with round_robin routing to the next of its agents, in the
// entry point's inbox (reason round_robin, actor system:routing). Presets
// win: a conversation they assigned is left alone, and so is one handled
// by a bot or visible only to others than the agent whose turn it is (the
// turn is taken all the same). The turn is kept in the database, in the
// transaction, so that agents take strict turns across core instances.
func (s *Service) routeRoundRobin(ctx context.Context, tx Tx, c *Conversation) error {
	agents := s.policy.EntryPointAgents[c.EntryPoint]
	if len(agents) == 0 || c.Assignee != "" || (c.Handler != "" && c.Handler != HandlerHuman) {
		return nil
	}
	turn, err := tx.Routing.NextTurn(ctx, c.EntryPoint)
	if err != nil {
		return err
	}
	agent := agents[turn%int64(len(agents))]
	if len(c.VisibleTo) > 0 && !slices.Contains(c.VisibleTo, agent) {
		return nil
	}
	return s.assign(ctx, tx, c, []string{agent}, c.Inbox, "round_robin", SystemActor("routing"))
}
