package core

import (
	"context"
	"slices"

	"github.com/opengateway/gateway/normalize"
)

// Viewer is who reads or works conversations (Converso's visibility): an
// agent sees the conversations visible to everyone and those listing them
// in VisibleTo; admins and bots (All) see every conversation.
type Viewer struct {
	// Agent is the agent's name; "" for an unnamed agent, who sees only
	// the conversations visible to everyone.
	Agent string
	All   bool
}

// Sees reports whether the viewer may see a conversation.
func (v Viewer) Sees(c Conversation) bool {
	return v.All || len(c.VisibleTo) == 0 || slices.Contains(c.VisibleTo, v.Agent)
}

type viewerKey struct{}

// WithViewer returns a context whose conversation reads and changes are
// those of v: a conversation v does not see is not found, and lists, the
// timeline and the figures leave it out. Without a viewer (the core's own
// work) every conversation is seen.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// viewerOf returns the viewer of ctx; nil when every conversation is seen.
func viewerOf(ctx context.Context) *Viewer {
	v, ok := ctx.Value(viewerKey{}).(Viewer)
	if !ok || v.All {
		return nil
	}
	return &v
}

// visibleConversation returns a conversation the context's viewer sees;
// one they do not see is not found, as if it did not exist.
func visibleConversation(ctx context.Context, tx ConversationTx, id string) (Conversation, error) {
	c, ok, err := tx.ConversationByID(ctx, id)
	if err != nil {
		return Conversation{}, err
	}
	if v := viewerOf(ctx); !ok || (v != nil && !v.Sees(c)) {
		return Conversation{}, Errorf(ENOTFOUND, "conversation %s not found", id)
	}
	return c, nil
}

// activeConflict is the 409 of a customer's other active conversation: it
// names that conversation only to a viewer who sees it (an error never
// names a conversation the caller may not see).
func activeConflict(ctx context.Context, other Conversation, what string) error {
	if v := viewerOf(ctx); v != nil && !v.Sees(other) {
		return Errorf(ECONFLICT, "%s", what)
	}
	return Errorf(ECONFLICT, "%s (%s)", what, other.ID)
}

// MaxVisibleTo is the most agents a conversation can be visible to.
const MaxVisibleTo = 50

// cleanVisibleTo drops duplicates and checks the limit and each name;
// empty means everyone.
func cleanVisibleTo(names []string) ([]string, error) {
	names = dedupe(names)
	if len(names) > MaxVisibleTo {
		return nil, Errorf(EINVALID, "a conversation is visible to at most %d agents", MaxVisibleTo)
	}
	for _, n := range names {
		if n == "" {
			return nil, Errorf(EINVALID, "an agent of visible_to cannot be empty")
		}
		if err := CheckName("visible_to", n); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// checkVisibleAssignees refuses assignees a conversation is not visible to:
// assignees must be among the visible.
func checkVisibleAssignees(visibleTo, assignees []string) error {
	if len(visibleTo) == 0 {
		return nil
	}
	for _, a := range assignees {
		if !slices.Contains(visibleTo, a) {
			return Errorf(EUNPROCESSABLE, "agent %s cannot be assigned: the conversation is not visible to them", a)
		}
	}
	return nil
}

// SetVisibility replaces who may see a conversation besides admins and bots
// (empty: everyone) and emits conversation.visibility_changed when it
// changed. Every assignee must stay among the visible (422 otherwise).
func (s *Service) SetVisibility(ctx context.Context, id string, visibleTo []string, by Actor) (Conversation, error) {
	visibleTo, err := cleanVisibleTo(visibleTo)
	if err != nil {
		return Conversation{}, err
	}
	return s.withConversation(ctx, id, func(tx Tx, c *Conversation) error {
		return s.setVisibility(ctx, tx, c, visibleTo, by)
	})
}

// setVisibility writes a conversation's visible_to and emits the event.
func (s *Service) setVisibility(ctx context.Context, tx Tx, c *Conversation, visibleTo []string, by Actor) error {
	prev := c.VisibleTo
	if prev == nil {
		prev = []string{}
	}
	if slices.Equal(prev, visibleTo) {
		return nil
	}
	if err := checkVisibleAssignees(visibleTo, c.Assignees); err != nil {
		return err
	}
	c.VisibleTo = visibleTo
	c.UpdatedAt = tx.Now()
	if err := tx.Visibility.SetVisibleTo(ctx, c.ID, visibleTo, c.UpdatedAt); err != nil {
		return err
	}
	return s.emit(ctx, tx, normalize.TypeConversationVisibilityChanged, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
		VisibleTo: visibleTo, PrevVisibleTo: prev, Actor: string(by), Conversation: c})
}

// letSee adds an agent to a conversation visible only to some agents (the
// opener of a proactive conversation whose customer's presets restrict
// it): the one who writes to the customer sees the conversation.
func (s *Service) letSee(ctx context.Context, tx Tx, c *Conversation, agent string, by Actor) error {
	if len(c.VisibleTo) == 0 || slices.Contains(c.VisibleTo, agent) {
		return nil
	}
	return s.setVisibility(ctx, tx, c, append(slices.Clone(c.VisibleTo), agent), by)
}
