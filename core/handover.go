package core

import (
	"context"
	"strings"

	"github.com/opengateway/gateway/normalize"
)

// maxBotName bounds the name of a bot handler, as a bot's command source does.
const maxBotName = 64

// CheckHandler checks a handler: HandlerHuman or "bot:<name>", the name of
// 1 to 64 letters, digits, '-', '_' or '.' (as in a bot's command source).
func CheckHandler(h string) error {
	if h == HandlerHuman {
		return nil
	}
	name, ok := strings.CutPrefix(h, ActorBot+":")
	if !ok || name == "" || len(name) > maxBotName || strings.IndexFunc(name, notNameRune) >= 0 {
		return Errorf(EINVALID, "the handler must be %q or \"bot:<name>\" (a name of at most %d letters, digits, '-', '_' or '.')",
			HandlerHuman, maxBotName)
	}
	return nil
}

func notNameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
}

// Handover gives a conversation to another handler (a human, or the bot
// "bot:<name>") and emits conversation.handed_over {from, to}. Handed to a
// human, the conversation counts in the unreplied figures again: every
// customer message since the last human reply. Handing it to the handler
// it has changes nothing; a closed conversation is a conflict.
func (s *Service) Handover(ctx context.Context, id, to string, by Actor) (Conversation, error) {
	if err := CheckHandler(to); err != nil {
		return Conversation{}, err
	}
	return s.withConversation(ctx, id, func(tx Tx, c *Conversation) error {
		if c.Status == StatusClosed {
			return Errorf(ECONFLICT, "conversation is closed: reopen it first")
		}
		from := c.Handler
		if from == to {
			return nil
		}
		c.Handler = to
		c.UpdatedAt = tx.Now()
		if err := tx.Conversations.UpdateConversation(ctx, *c); err != nil {
			return err
		}
		return s.emit(ctx, tx, normalize.TypeConversationHandedOver, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
			From: from, To: to, Actor: string(by), Conversation: c})
	})
}
