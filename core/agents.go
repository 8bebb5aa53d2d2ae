package core

import (
	"context"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/opengateway/gateway/normalize"
)

// Kinds of actor: the part of an Actor before the colon.
const (
	ActorAgent  = "agent"
	ActorAdmin  = "admin"
	ActorBot    = "bot"
	ActorSystem = "system"
)

// AdminActor names an admin.
func AdminActor(name string) Actor { return Actor(ActorAdmin + ":" + name) }

// BotActor names a bot.
func BotActor(name string) Actor { return Actor(ActorBot + ":" + name) }

// kind returns what an actor is: agent, admin, bot, system or customer.
func (a Actor) kind() string {
	k, _, _ := strings.Cut(string(a), ":")
	return k
}

// human reports whether an actor is a person answering customers: an
// agent or an admin. Bots, automatic rules and downstream systems without
// a human actor are not.
func (a Actor) human() bool {
	k := a.kind()
	return k == ActorAgent || k == ActorAdmin
}

// mayClose reports whether an actor may close a conversation (Converso:
// "Conversations can be closed by the assigned-to agent, or an admin"): an
// assignee, an admin, a bot or an automatic rule.
func (a Actor) mayClose(c Conversation) bool {
	switch a.kind() {
	case ActorAdmin, ActorBot, ActorSystem:
		return true
	case ActorAgent:
		return slices.Contains(c.Assignees, a.agentName())
	}
	return false
}

// Limits of topics and assignees.
const (
	MaxTopics    = 20
	MaxTopicLen  = 64
	MaxAssignees = 20
)

// dedupe returns the strings of in once each, in order, never nil.
func dedupe(in []string) []string {
	out := []string{}
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// cleanTopics trims topics, drops duplicates and checks the limits.
func cleanTopics(topics []string) ([]string, error) {
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > MaxTopicLen || !utf8.ValidString(t) || strings.IndexFunc(t, unicode.IsControl) >= 0 {
			return nil, Errorf(EINVALID, "each topic must be printable text of 1 to %d bytes", MaxTopicLen)
		}
		out = append(out, t)
	}
	out = dedupe(out)
	if len(out) > MaxTopics {
		return nil, Errorf(EINVALID, "a conversation has at most %d topics", MaxTopics)
	}
	return out, nil
}

// SetTopics replaces a conversation's topics and emits
// conversation.topics_changed when they changed.
func (a *Agents) SetTopics(ctx context.Context, id string, topics []string, by Actor) (Conversation, error) {
	s := a.s
	topics, err := cleanTopics(topics)
	if err != nil {
		return Conversation{}, err
	}
	return s.withConversation(ctx, id, func(tx Tx, c *Conversation) error {
		prev := c.Topics
		if prev == nil {
			prev = []string{}
		}
		if slices.Equal(prev, topics) {
			return nil
		}
		c.Topics = topics
		c.UpdatedAt = tx.Now()
		if err := tx.Conversations.UpdateConversation(ctx, *c); err != nil {
			return err
		}
		return s.emit(ctx, tx, normalize.TypeConversationTopicsChanged, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
			Topics: topics, PreviousTopics: prev, Actor: string(by), Conversation: c})
	})
}

// assign makes agents assignees of a conversation: they replace the
// assignee, or join the assignees with Policy.MultiAssign. inbox becomes
// the conversation's inbox (with MultiAssign only when given). It emits
// conversation.assigned, and a new conversation becomes open.
func (s *Service) assign(ctx context.Context, tx Tx, c *Conversation, agents []string, inbox, reason string, by Actor) error {
	if err := checkVisibleAssignees(c.VisibleTo, agents); err != nil {
		return err
	}
	prev := c.Assignee
	if s.policy.MultiAssign {
		for _, a := range agents {
			if !slices.Contains(c.Assignees, a) {
				c.Assignees = append(slices.Clip(c.Assignees), a)
			}
		}
		if len(c.Assignees) > MaxAssignees {
			return Errorf(EUNPROCESSABLE, "a conversation has at most %d assignees", MaxAssignees)
		}
		if inbox != "" {
			c.Inbox = inbox
		}
	} else {
		c.Assignees, c.Inbox = []string{agents[0]}, inbox
	}
	c.Assignee = c.Assignees[0]
	c.UpdatedAt = tx.Now()
	if err := tx.Conversations.UpdateConversation(ctx, *c); err != nil {
		return err
	}
	if err := s.emit(ctx, tx, normalize.TypeConversationAssigned, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
		Assignee: agents[0], Assignees: slices.Clone(c.Assignees), Inbox: c.Inbox, PreviousAgent: prev, Reason: reason,
		Actor: string(by), Conversation: c}); err != nil {
		return err
	}
	if c.Status == StatusNew {
		return s.transition(ctx, tx, c, StatusOpen, reason, string(by))
	}
	return nil
}

// UnassignAgent removes one assignee ("" removes all); a conversation left
// without any becomes new.
func (s *Service) UnassignAgent(ctx context.Context, id, agent string, by Actor) (Conversation, error) {
	return s.withConversation(ctx, id, func(tx Tx, c *Conversation) error {
		if len(c.Assignees) == 0 || (agent != "" && !slices.Contains(c.Assignees, agent)) {
			return nil
		}
		removed := agent
		if agent == "" {
			removed, c.Assignees = c.Assignee, []string{}
		} else {
			c.Assignees = slices.DeleteFunc(slices.Clone(c.Assignees), func(a string) bool { return a == agent })
		}
		c.Assignee = ""
		if len(c.Assignees) > 0 {
			c.Assignee = c.Assignees[0]
		}
		c.UpdatedAt = tx.Now()
		if err := tx.Conversations.UpdateConversation(ctx, *c); err != nil {
			return err
		}
		if err := s.emit(ctx, tx, normalize.TypeConversationAssigned, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
			Assignee: c.Assignee, Assignees: slices.Clone(c.Assignees), Inbox: c.Inbox, PreviousAgent: removed,
			Reason: "unassigned", Actor: string(by), Conversation: c}); err != nil {
			return err
		}
		if c.Status == StatusOpen && c.Assignee == "" {
			return s.transition(ctx, tx, c, StatusNew, "unassigned", string(by))
		}
		return nil
	})
}

// applyPresets gives a conversation that starts, or reopens without an
// assignee, its customer's preset visibility, assignees and inbox.
func (s *Service) applyPresets(ctx context.Context, tx Tx, c *Conversation) error {
	p, ok, err := tx.Presets.CustomerPresets(ctx, c.CustomerID)
	if err != nil || !ok {
		return err
	}
	if len(p.VisibleTo) > 0 {
		if err := s.setVisibility(ctx, tx, c, p.VisibleTo, SystemActor("presets")); err != nil {
			return err
		}
	}
	if len(p.Assignees) > 0 {
		return s.assign(ctx, tx, c, p.Assignees, p.Inbox, "preset", SystemActor("presets"))
	}
	if p.Inbox != "" {
		c.Inbox = p.Inbox
		return tx.Conversations.UpdateConversation(ctx, *c)
	}
	return nil
}

// Presets returns a customer's presets (empty when none are set).
func (a *Agents) Presets(ctx context.Context, customerID string) (Presets, error) {
	s := a.s
	var out Presets
	err := s.store.InTx(ctx, func(tx Tx) error {
		if err := customerExists(ctx, tx.Customers, customerID); err != nil {
			return err
		}
		p, _, err := tx.Presets.CustomerPresets(ctx, customerID)
		out = p
		return err
	})
	if out.Assignees == nil {
		out.Assignees = []string{}
	}
	if out.VisibleTo == nil {
		out.VisibleTo = []string{}
	}
	return out, err
}

// SetPresets replaces the visibility, assignees and inbox each new
// conversation of a customer starts with. Without Policy.MultiAssign there
// is at most one assignee; the assignees must be among the visible.
func (a *Agents) SetPresets(ctx context.Context, customerID string, p Presets) (Presets, error) {
	s := a.s
	for _, n := range p.Assignees {
		if n == "" {
			return Presets{}, Errorf(EINVALID, "an assignee cannot be empty")
		}
		if err := CheckName("assignees", n); err != nil {
			return Presets{}, err
		}
	}
	if err := CheckName("inbox", p.Inbox); err != nil {
		return Presets{}, err
	}
	p.Assignees = dedupe(p.Assignees)
	visibleTo, err := cleanVisibleTo(p.VisibleTo)
	if err != nil {
		return Presets{}, err
	}
	p.VisibleTo = visibleTo
	if err := checkVisibleAssignees(p.VisibleTo, p.Assignees); err != nil {
		return Presets{}, err
	}
	if len(p.Assignees) > 1 && !s.policy.MultiAssign {
		return Presets{}, Errorf(EUNPROCESSABLE, "a conversation has one assignee (GATEWAY_MULTI_ASSIGN is off)")
	}
	if len(p.Assignees) > MaxAssignees {
		return Presets{}, Errorf(EINVALID, "at most %d assignees", MaxAssignees)
	}
	err = s.store.InTx(ctx, func(tx Tx) error {
		if err := customerExists(ctx, tx.Customers, customerID); err != nil {
			return err
		}
		p.UpdatedAt = tx.Now()
		return tx.Presets.SetCustomerPresets(ctx, customerID, p)
	})
	return p, err
}

func customerExists(ctx context.Context, tx CustomerTx, id string) error {
	_, ok, err := tx.CustomerByID(ctx, id)
	if err == nil && !ok {
		err = Errorf(ENOTFOUND, "customer %s not found", id)
	}
	return err
}

// MarkRead marks a conversation read up to now for an agent.
func (a *Agents) MarkRead(ctx context.Context, id, agent string) (Conversation, error) {
	s := a.s
	if agent == "" {
		return Conversation{}, Errorf(EINVALID, "an agent is needed: a named token or X-Agent (agent in a command)")
	}
	if err := CheckName("agent", agent); err != nil {
		return Conversation{}, err
	}
	var out Conversation
	err := s.store.InTx(ctx, func(tx Tx) error {
		c, err := visibleConversation(ctx, tx.Conversations, id)
		if err != nil {
			return err
		}
		zero := 0
		c.Unread = &zero
		out = c
		return tx.Reads.MarkRead(ctx, id, agent, tx.Now())
	})
	return out, err
}

// ShowUnread sets Unread of each conversation for the agent viewing them.
func (a *Agents) ShowUnread(ctx context.Context, agent string, convs []Conversation) error {
	s := a.s
	if agent == "" || len(convs) == 0 {
		return nil
	}
	ids := make([]string, len(convs))
	for i, c := range convs {
		ids[i] = c.ID
	}
	return s.store.InTx(ctx, func(tx Tx) error {
		n, err := tx.Reads.Unread(ctx, agent, ids)
		if err != nil {
			return err
		}
		for i := range convs {
			u := n[convs[i].ID]
			convs[i].Unread = &u
		}
		return nil
	})
}
