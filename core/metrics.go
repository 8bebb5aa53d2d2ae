package core

// Metrics receives what the engine counts; core/coremetrics records it in
// Prometheus. The engine calls it after the work it counts is committed.
type Metrics interface {
	// Message counts an inbound message by result (created, attached,
	// reopened, duplicate, noise, updated) and the entry point it came in
	// at (for an update, the one derived from its provider and channel).
	Message(result, entryPoint string)
	// Event counts an event written to the event outbox, by type.
	Event(typ string)
	// DeadLetter counts a record sent to the dead-letter topic, by reason.
	DeadLetter(reason string)
	// Batch observes how many records one transaction handled.
	Batch(records int)
	// FirstResponse observes a conversation's time to its first human reply.
	FirstResponse(seconds float64)
	// Resolution observes a conversation's time from creation, or its last
	// reopen, to closing.
	Resolution(seconds float64)
	// Relayed counts events published from the event outbox.
	Relayed(events int)
}

// NewMetrics returns m, or Metrics that record nothing when m is nil.
func NewMetrics(m Metrics) Metrics {
	if m == nil {
		return noMetrics{}
	}
	return m
}

type noMetrics struct{}

func (noMetrics) Message(string, string) {}
func (noMetrics) Event(string)           {}
func (noMetrics) DeadLetter(string)      {}
func (noMetrics) Batch(int)              {}
func (noMetrics) FirstResponse(float64)  {}
func (noMetrics) Resolution(float64)     {}
func (noMetrics) Relayed(int)            {}
