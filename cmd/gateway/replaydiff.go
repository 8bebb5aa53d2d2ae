package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
)

// A dry run says how many of the events it would publish differ from what
// inbound.v1 holds. Events are compared by identity and content:
//   - identity: the type, provider and provider_message_id (and, for a
//     message.status, the delivery state), which is what the core dedupes
//     on; an event without a provider_message_id is identified by its
//     content;
//   - content: a SHA-256 of the normalized message or status as JSON
//     without what each run generates afresh: the event id and time, the
//     gateway's message_id, and an attachment's url, status and error (set
//     by the media store).
//
// An event whose identity inbound.v1 does not hold is missing (a real run
// restores it: the core attaches it); one whose identity it holds, but
// never with this content, is changed (today's parser reads the request
// differently; the core keeps the message it already has, since it drops
// a provider message id it has seen).

// heldEvents are the contents inbound.v1 holds, by identity.
type heldEvents map[string]map[[32]byte]bool

// readHeld indexes the events inbound.v1 holds from the first record
// stamped at or after from to its end (so the events of an earlier replay,
// published later, count).
func readHeld(ctx context.Context, c *kafka.Client, brokers []string, topic string, from time.Time) (heldEvents, error) {
	ranges, err := offsetRange(ctx, c, topic, from, time.Time{})
	if err != nil {
		return nil, err
	}
	held := heldEvents{}
	for _, pr := range ranges {
		err := readRange(ctx, brokers, topic, pr, func(m kafka.Message) error {
			if id, sum, ok := eventIdentity(m.Value); ok {
				if held[id] == nil {
					held[id] = map[[32]byte]bool{}
				}
				held[id][sum] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return held, nil
}

// compare counts an event the dry run would publish as missing, changed or
// the same as one inbound.v1 holds.
func (r *replayer) compare(value []byte) {
	id, sum, ok := eventIdentity(value)
	switch {
	case !ok || r.held[id] == nil:
		r.missing++
	case !r.held[id][sum]:
		r.changed++
	}
}

// eventIdentity is an inbound.v1 record's identity and content hash; ok is
// false for a record that is no inbound event.
func eventIdentity(value []byte) (id string, sum [32]byte, ok bool) {
	in, err := core.DecodeInbound(value)
	if err != nil {
		return "", sum, false
	}
	var provider, pmid, state string
	var content any
	switch {
	case in.Message != nil:
		m := *in.Message
		m.MessageID = ""
		m.Attachments = append(m.Attachments[:0:0], m.Attachments...)
		for i := range m.Attachments {
			m.Attachments[i].URL, m.Attachments[i].Status, m.Attachments[i].Error = "", "", ""
		}
		provider, pmid, content = m.Provider, m.ProviderMessageID, m
	case in.Status != nil:
		provider, pmid, state, content = in.Status.Provider, in.Status.ProviderMessageID, in.Status.Status, *in.Status
	}
	b, err := json.Marshal(content)
	if err != nil {
		return "", sum, false
	}
	sum = sha256.Sum256(b)
	if pmid == "" {
		pmid = "content:" + hex.EncodeToString(sum[:])
	}
	return in.Event.Type + "|" + provider + "|" + pmid + "|" + state, sum, true
}
