package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/connectors/webchat"
	"github.com/opengateway/gateway/core"
)

// The core's internal API: what an ingest-only instance needs of the
// database for the web chat sockets it holds (a returning visitor's history
// and the replies they have not confirmed). It is reached through
// GATEWAY_CORE_URL and accepts only requests carrying a key derived from
// GATEWAY_CHAT_SECRET, which every instance already shares; the shipped
// Ingress does not route /internal at all.
const chatReturningPath = "/internal/chat/returning"

// maxReturningRequest bounds the internal request body (a visitor address).
const maxReturningRequest = 4 << 10

// internalKey is the bearer key of the core's internal routes, derived
// from the chat secret so that no instance needs a secret of its own.
func internalKey(chatSecret []byte) string {
	m := hmac.New(sha256.New, chatSecret)
	m.Write([]byte("gateway core internal api v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// returningRequest is the body of a chat returning request.
type returningRequest struct {
	Address string `json:"address"`
}

// mountCoreInternal serves the internal routes on a core instance.
func (g *Gateway) mountCoreInternal(chatSecret []byte) {
	want := []byte("Bearer " + internalKey(chatSecret))
	g.app.Post(chatReturningPath, func(c *fiber.Ctx) error {
		if subtle.ConstantTimeCompare([]byte(c.Get(fiber.HeaderAuthorization)), want) != 1 {
			c.Context().SetConnectionClose()
			return httperr.Write(c, core.EUNAUTHORIZED, "the internal API needs the key derived from GATEWAY_CHAT_SECRET")
		}
		body, err := edge.ReadBody(c, maxReturningRequest)
		if err != nil {
			return edge.WriteBodyError(c, err, maxReturningRequest)
		}
		var req returningRequest
		if json.Unmarshal(body, &req) != nil || req.Address == "" {
			return httperr.Write(c, core.EINVALID, `the body must be {"address": "..."}`)
		}
		r, err := g.chatReturning(c.UserContext(), req.Address)
		if err != nil {
			return httperr.Write(c, httperr.CodeUnavailable, "the chat history could not be read")
		}
		return c.JSON(r)
	})
}

// remoteChatReplay is the OnConnect of an ingest-only instance: it asks the
// core at GATEWAY_CORE_URL. A core that cannot answer leaves the visitor
// without history (logged); the socket works on.
func (g *Gateway) remoteChatReplay(chatSecret []byte) func(ctx context.Context, address string) webchat.Returning {
	client := &http.Client{Timeout: 5 * time.Second}
	url := g.cfg.CoreURL + chatReturningPath
	auth := "Bearer " + internalKey(chatSecret)
	return func(ctx context.Context, address string) webchat.Returning {
		r, err := fetchReturning(ctx, client, url, auth, address)
		if err != nil {
			g.log.Warn("chat: history from the core (GATEWAY_CORE_URL)", "error", err)
		}
		return r
	}
}

func fetchReturning(ctx context.Context, client *http.Client, url, auth, address string) (webchat.Returning, error) {
	var r webchat.Returning
	body, _ := json.Marshal(returningRequest{Address: address})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return r, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode == http.StatusUnauthorized {
			return r, fmt.Errorf("the core refused the key: GATEWAY_CHAT_SECRET must be the same on every instance")
		}
		return r, fmt.Errorf("the core answered %d", resp.StatusCode)
	}
	// History is bounded by GATEWAY_CHAT_HISTORY (at most 1,000 messages) and
	// pending replies by what a visitor left unconfirmed.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&r); err != nil {
		return webchat.Returning{}, fmt.Errorf("decode the core's answer: %w", err)
	}
	return r, nil
}
