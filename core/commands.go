package core

// WithStore returns a copy of the service that works on st: the same
// policy, topics, metrics, media store and event hook. The command consumer
// of gateway.commands.v1 gives it a store that records each command's id in
// the transaction of the command's work, so the service's methods stay as
// the operator API calls them. Call it after OnEvents and SetMedia.
func (s *Service) WithStore(st Store) *Service {
	c := *s
	c.store = st
	return &c
}
