package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// FuzzDecodeBody fuzzes the operator API's JSON body decoding through the
// app, with a valid token: on a probe route that only decodes a reply
// request, and on POST /v1/conversations/{id}/messages, which decodes the
// same request before it looks the conversation up. decodeBody refuses only
// with EINVALID; what it accepts is one JSON object of known fields only
// (matched by exact name); the real route answers a refused body 400
// invalid, and never answers 5xx.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"text":"Your order has shipped."}`, `{"text":"x","channel":"sms","tag":"HUMAN_AGENT"}`,
		`{"template":{"name":"order_update","language":"en_US","components":[{"type":"body"}]}}`,
		`{"text":"x","attachments":[{"url":"https://example.com/a.pdf","filename":"a.pdf"}],"subject":"Re","html":"<p>x</p>"}`,
		`{"Text":"x"}`, `{"text":"x"} {}`, `{"text":1}`, `{"nope":1}`, `{"text":"\u0000"}`, `{`, `[]`, `null`, ``, ` {"text":"x"} `} {
		f.Add([]byte(s))
	}
	const token = "fuzz-agent-token"
	log := slog.New(slog.DiscardHandler)
	store := sqltest.Open(f, sqlstore.SQLite)
	svc := core.NewService(store, core.Policy{ReopenWindow: 72 * time.Hour, AutoCloseAfter: 96 * time.Hour},
		core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"}, log, core.NewMetrics(nil))
	app := connectors.NewApp(connectors.Config{Log: log})
	api := New(Core{Conversations: svc, Customers: svc.Customers(), Agents: svc.Agents(), Replies: svc.DispatchQueue()}, map[string]string{token: RoleAgent}, nil, log, nil)
	verdict := make(chan error, 1)
	api.Handle(fiber.MethodPost, "/fuzz/decode", RoleAgent, func(c *fiber.Ctx) error {
		var req core.ReplyRequest
		err := decodeBody(c, &req)
		verdict <- err
		if err != nil {
			return err
		}
		return c.JSON(req)
	})
	api.Mount(app)
	post := func(t *testing.T, path string, body []byte) (int, []byte) {
		req, err := http.NewRequest(fiber.MethodPost, "http://gateway.test"+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, out := post(t, "/v1/fuzz/decode", body)
		var err error
		select {
		case err = <-verdict:
		default:
			t.Fatalf("decodeBody did not run: %d %s", status, out)
		}
		if err != nil {
			if core.ErrorCode(err) != core.EINVALID || status != fiber.StatusBadRequest {
				t.Fatalf("refused with %v, answered %d %s", err, status, out)
			}
		} else {
			trimmed := bytes.TrimSpace(body)
			var keys map[string]json.RawMessage
			if status != fiber.StatusOK || !json.Valid(trimmed) || json.Unmarshal(trimmed, &keys) != nil {
				t.Fatalf("accepted %q, answered %d %s", body, status, out)
			}
			known := jsonNames(reflect.TypeOf(core.ReplyRequest{}))
			for k := range keys {
				if !known[k] {
					t.Fatalf("accepted unknown field %q", k)
				}
			}
		}
		// The real route: unknown conversation, so a body it decodes is a 404.
		rs, rout := post(t, "/v1/conversations/0190f0aa-7b1c-7000-8000-00000000f022/messages", body)
		var shape struct {
			Error struct{ Code, Message string }
		}
		if rs >= 500 || json.Unmarshal(rout, &shape) != nil || shape.Error.Code == "" {
			t.Fatalf("POST messages %q: %d %s", body, rs, rout)
		}
		if err != nil && (rs != fiber.StatusBadRequest || shape.Error.Code != core.EINVALID) {
			t.Fatalf("a body decodeBody refuses was answered %d %s", rs, rout)
		}
	})
}
