package outbox

import "context"

// ChatSender "sends" web chat replies: the gateway is the provider. The
// reply is accepted at once under its own id; message.sent on events.v1
// carries it to whichever instance holds the visitor's socket, and the
// browser's receipt makes it delivered. A visitor who is away gets it on
// reconnect.
type ChatSender struct{}

var _ Sender = ChatSender{}

// Send implements Sender.
func (ChatSender) Send(_ context.Context, m Send) (Result, error) {
	if m.To.Address == "" {
		return Result{}, &SendError{Permanent: true, Message: "no visitor to send to"}
	}
	return Result{ProviderMessageID: m.MessageID}, nil
}
