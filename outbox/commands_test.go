package outbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/outbox"
)

// replier records the replies asked for and answers with err.
type replier struct {
	calls []string
	err   error
}

func (r *replier) Reply(_ context.Context, conversationID string, req core.ReplyRequest, by core.Actor) (core.StoredMessage, error) {
	r.calls = append(r.calls, conversationID+" "+req.Text+" "+req.ClientRef+" "+string(by))
	return core.StoredMessage{}, r.err
}

// Apply queues the reply a record asks for, as the actor it names, with the
// command id as the idempotency key; an unreadable record and a reply the
// rules refuse come back with the reason to dead-letter them.
func TestCommandsApply(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := map[string]struct {
		value      string
		err        error
		wantReason string
		wantCall   string
	}{
		"queued": {value: `{"id":"c1","conversation_id":"conv1","text":"hi","actor":"bot:triage"}`,
			wantCall: "conv1 hi outbound.v1:c1 bot:triage"},
		"cloudevent": {value: `{"specversion":"1.0","id":"c2","type":"message.send","data":{"conversation_id":"conv2","text":"yo"}}`,
			wantCall: "conv2 yo outbound.v1:c2 system:outbound.v1"},
		"undecodable": {value: `{not json`, wantReason: "undecodable"},
		"refused": {value: `{"id":"c3","conversation_id":"gone","text":"hi"}`, err: core.Errorf(core.ENOTFOUND, "no conversation"),
			wantReason: core.ENOTFOUND, wantCall: "gone hi outbound.v1:c3 system:outbound.v1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := &replier{err: tc.err}
			reason, err := outbox.NewCommands(r, log).Apply(context.Background(), []byte(tc.value))
			if reason != tc.wantReason || (reason == "") != (err == nil) {
				t.Fatalf("Apply = %q, %v; want reason %q", reason, err, tc.wantReason)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("cause %v, want %v", err, tc.err)
			}
			if got := append(r.calls, "")[0]; got != tc.wantCall {
				t.Fatalf("reply %q, want %q", got, tc.wantCall)
			}
		})
	}
}

// A transient failure is retried until ctx ends; then Apply returns ctx's
// error and no reason: the record is not dead-lettered, it comes again.
func TestCommandsApplyStopsWithCtx(t *testing.T) {
	r := &replier{err: core.ErrTransient}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reason, err := outbox.NewCommands(r, slog.New(slog.DiscardHandler)).Apply(ctx, []byte(`{"id":"c1","conversation_id":"conv1","text":"hi"}`))
	if reason != "" || !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply = %q, %v; want no reason and context.Canceled", reason, err)
	}
}
