package spool

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/kafkabus"
)

// A publisher's share bounds what it may spool: with Kafka down, records
// through a share of 2 frames of a 10-frame spool stop at 2 (ErrUnavailable,
// the spool still writable); the whole publisher then fills the other 8.
func TestPublisherShare(t *testing.T) {
	size := int64(len(appendFrame(nil, rec(0), time.Now())))
	s := open(t, t.TempDir(), Options{MaxBytes: 10 * size})
	k := &fakeKafka{down: true}
	p := NewPublisher(k, s, NewDrainer(s, k, slogDiscard()))
	chat := p.Share(2 * size)
	spooled := 0
	for i := range 20 {
		switch err := chat.Produce(t.Context(), rec(i)); {
		case err == nil:
			spooled++
		case !errors.Is(err, kafkabus.ErrUnavailable) || !strings.Contains(err.Error(), "full"):
			t.Fatalf("past the share: %v, want ErrUnavailable", err)
		}
	}
	if spooled != 2 || !s.Writable() {
		t.Fatalf("%d spooled through the share, writable %v; want 2 and a writable spool", spooled, s.Writable())
	}
	for i := range 8 {
		if err := p.Produce(t.Context(), rec(2+i)); err != nil {
			t.Fatalf("webhook record %d after the share was used: %v", i, err)
		}
	}
	if err := p.Produce(t.Context(), rec(200)); !errors.Is(err, kafkabus.ErrUnavailable) {
		t.Fatalf("past MaxBytes: %v, want ErrFull", err)
	}
	// Once drained, the share takes records again.
	drain(t, s, 100)
	if err := chat.Produce(t.Context(), rec(300)); err != nil {
		t.Fatalf("share after the drain: %v", err)
	}
}
