package main

import (
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/core/kafkabus"
)

// apiCore gives the operator API the engine's roles.
func apiCore(s *core.Service) httpapi.Core {
	return httpapi.Core{Conversations: s, Customers: s.Customers(), Agents: s.Agents(), Replies: s.DispatchQueue()}
}

// commandsBind gives the command consumer the engine's roles on the store
// it passes (the one that records each command's id).
func commandsBind(s *core.Service) kafkabus.Bind {
	return func(st core.Store) kafkabus.Core {
		b := s.WithStore(st)
		return kafkabus.Core{Conversations: b, Customers: b.Customers(), Agents: b.Agents(), Replies: b.DispatchQueue()}
	}
}
