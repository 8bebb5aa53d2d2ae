package webchat

import (
	"context"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/outbox"
)

// Sender "sends" web chat replies: the gateway is the provider. The reply is
// accepted at once under its own id; message.sent on events.v1 carries it to
// whichever instance holds the visitor's socket, and the browser's receipt
// makes it delivered. A visitor who is away gets it on reconnect.
type Sender struct{}

var _ outbox.Sender = Sender{}

// Send implements outbox.Sender.
func (Sender) Send(_ context.Context, m outbox.Send) (outbox.Result, error) {
	if m.To.Address == "" {
		return outbox.Result{}, &outbox.SendError{Permanent: true, Message: "no visitor to send to"}
	}
	return outbox.Result{ProviderMessageID: m.MessageID}, nil
}

var _ connector.New[Settings] = NewConnector

// Settings are what the web chat's connector takes of the configuration:
// nothing (the Chat takes its Config).
type Settings struct{}

// NewConnector is the web chat's part of the provider contract: its sender.
// Its websocket and widget routes are not webhooks; cmd/gateway mounts them
// with the Chat (New).
func NewConnector(Settings, connector.Deps) (connector.Connector, error) {
	return connector.Connector{Name: "webchat", Senders: map[string]outbox.Sender{Provider: Sender{}}}, nil
}
