package core

// Customers is the customers directory: finding, creating, changing,
// merging and erasing customers and their identities. It shares the
// engine's store, policy and events (Service.Customers).
type Customers struct{ s *Service }

// Customers returns the engine's customers directory.
func (s *Service) Customers() *Customers { return &Customers{s: s} }

// Agents is what agents keep for themselves: read marks, unread counts,
// their figures and the dashboard's, the topics of conversations and the
// presets of customers (Service.Agents).
type Agents struct{ s *Service }

// Agents returns the engine's agents' side.
func (s *Service) Agents() *Agents { return &Agents{s: s} }
