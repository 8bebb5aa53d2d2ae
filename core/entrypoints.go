package core

import (
	"context"
	"slices"
	"strings"
	"sync"
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
	if m.EntryPoint != "" && CheckEntryPoint(m.EntryPoint) == nil {
		return m.EntryPoint
	}
	return EntryPointOf(m.Provider, m.Channel)
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

// turns counts the conversations routed round robin at each entry point.
type turns struct {
	mu sync.Mutex
	n  map[string]int
}

// next returns the entry point's count and counts one more.
func (t *turns) next(entryPoint string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.n[entryPoint]
	t.n[entryPoint] = n + 1
	return n
}

// routeRoundRobin assigns a conversation a customer started at an entry
// point with round_robin routing to the next of its agents, in the
// entry point's inbox (reason round_robin, actor system:routing). Presets
// win: a conversation they assigned is left alone, and so is one handled
// by a bot or visible only to others than the agent whose turn it is. The
// turn is counted by each core instance.
func (s *Service) routeRoundRobin(ctx context.Context, tx Tx, c *Conversation) error {
	agents := s.policy.EntryPointAgents[c.EntryPoint]
	if len(agents) == 0 || c.Assignee != "" || (c.Handler != "" && c.Handler != HandlerHuman) {
		return nil
	}
	agent := agents[s.turns.next(c.EntryPoint)%len(agents)]
	if len(c.VisibleTo) > 0 && !slices.Contains(c.VisibleTo, agent) {
		return nil
	}
	return s.assign(ctx, tx, c, []string{agent}, c.Inbox, "round_robin", SystemActor("routing"))
}
