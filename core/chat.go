package core

import (
	"context"
	"strings"

	"github.com/opengateway/gateway/normalize"
)

// chatIdentity is the identity of a web chat visitor by party address: a
// site-identified visitor by email, else the visitor (or site user) id.
func chatIdentity(address string) Identity {
	if strings.Contains(address, "@") {
		return Identity{Kind: normalize.KindEmail, Address: address}
	}
	return Identity{Kind: normalize.KindChat, Address: address}
}

// ChatHistory returns what a returning web chat visitor (by party address)
// is shown: their latest chat messages both ways, at most limit, oldest
// first. Replies not yet sent or that failed are left out (a queued reply
// reaches the visitor when it is sent); notes never appear.
func (s *Service) ChatHistory(ctx context.Context, address string, limit int) ([]StoredMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []StoredMessage
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Chat.VisitorHistory(ctx, chatIdentity(address), normalize.ChannelChat, limit)
		return err
	})
	return out, err
}
