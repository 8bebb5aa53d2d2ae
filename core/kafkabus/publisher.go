package kafkabus

import "context"

// Publisher is the one producer interface of the gateway: the webhooks, the
// event relay, the dead-letter topic and the spool publish through it. The
// Kafka Producer implements it, and so does the spool's Publisher
// (core/kafkabus/spool), which stands in for Kafka while it is down; both
// run the conformance suite in core/kafkabus/publishertest.
//
// Produce returns nil only once every record is durable: acknowledged by
// all in-sync replicas, or fsynced to the spool. Records of one topic and
// key keep the order in which they were handed over. A failure is returned,
// never dropped: an error wrapping ErrUnavailable when trying again later
// may succeed (Kafka down, ctx ended, the spool full or closed), ErrRejected
// when a record can never be taken. Produce must not keep recs or any slice
// in them after it returns, whatever it returns: the caller reuses their
// memory.
type Publisher interface {
	Produce(ctx context.Context, recs ...Record) error
}

var _ Publisher = (*Producer)(nil)
