package connectors_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/webchat"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/media"
)

type failingPublisher struct{}

func (failingPublisher) Produce(context.Context, ...kafkabus.Record) error {
	return kafkabus.ErrUnavailable
}

type files struct{}

func (files) Verify(key string, q url.Values) error {
	if q.Get("sig") != "ok" {
		return errors.New("bad signature")
	}
	return nil
}

func (files) Open(_ context.Context, key string) (io.ReadCloser, int64, error) {
	switch key {
	case "gone":
		return nil, 0, media.ErrNotFound
	case "broken":
		return nil, 0, errors.New("disk on fire")
	}
	return io.NopCloser(strings.NewReader("data")), 4, nil
}

// failWith is a webhook handler refusing every request with err.
func failWith(err error) webhook.Handler {
	return webhook.HandlerFunc(func(context.Context, *webhook.Request) (webhook.Result, error) {
		return webhook.Result{}, err
	})
}

var accept = webhook.HandlerFunc(func(context.Context, *webhook.Request) (webhook.Result, error) {
	return webhook.Result{Body: []byte("ok")}, nil
})

// TestErrorAnswers pins every error answer of the app, the webhooks and the
// media route: status, the JSON error shape byte for byte, and headers.
func TestErrorAnswers(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	app := connectors.NewApp(connectors.Config{Log: log})
	wh := connectors.NewIngest(failingPublisher{}, kafkabus.Topics{}, "", log, nil)
	post := []string{fiber.MethodPost}
	wh.Mount(app,
		connectors.Route{Name: "disabled", Path: "/webhooks/disabled", Methods: post},
		connectors.Route{Name: "small", Path: "/webhooks/small", Methods: post, Handler: accept, MaxBody: 4},
		connectors.Route{Name: "signature", Path: "/webhooks/signature", Methods: post, Handler: failWith(webhook.ErrSignature)},
		connectors.Route{Name: "expired", Path: "/webhooks/expired", Methods: post, Handler: failWith(webhook.ErrExpired)},
		connectors.Route{Name: "unauthorized", Path: "/webhooks/unauthorized", Methods: post, Handler: failWith(webhook.ErrUnauthorized)},
		connectors.Route{Name: "malformed", Path: "/webhooks/malformed", Methods: post, Handler: failWith(webhook.ErrMalformed)},
		connectors.Route{Name: "unsupported", Path: "/webhooks/unsupported", Methods: post, Handler: failWith(webhook.ErrUnsupported)},
		connectors.Route{Name: "broken", Path: "/webhooks/broken", Methods: post, Handler: failWith(errors.New("bug"))},
		connectors.Route{Name: "kafka", Path: "/webhooks/kafka", Methods: post, Handler: accept},
	)
	connectors.MountMedia(app, files{})
	webchat.New(webchat.Config{Secret: []byte("s")}, func(context.Context, []webhook.Event) error { return nil }, log, nil).Mount(app)
	app.Get("/boom", func(*fiber.Ctx) error { return errors.New("unexpected") })
	// What fiber's server answers for a body over BodyLimit, a bad request
	// line or a timeout goes through the same error handler.
	app.Get("/fiber/:status", func(c *fiber.Ctx) error {
		return map[string]*fiber.Error{"413": fiber.ErrRequestEntityTooLarge, "400": fiber.ErrBadRequest,
			"408": fiber.ErrRequestTimeout}[c.Params("status")]
	})

	tests := map[string]struct {
		method, path, body string
		status             int
		want               string
		header             [2]string
		hdr                []string // of the request
	}{
		"unknown route":       {"GET", "/nope", "", 404, `{"error":{"code":"not_found","message":"Cannot GET /nope"}}`, [2]string{}, nil},
		"wrong method":        {"GET", "/webhooks/kafka", "", 405, `{"error":{"code":"invalid","message":"Method Not Allowed"}}`, [2]string{}, nil},
		"over the body limit": {"GET", "/fiber/413", "", 413, `{"error":{"code":"too_large","message":"Request Entity Too Large"}}`, [2]string{}, nil},
		"bad request":         {"GET", "/fiber/400", "", 400, `{"error":{"code":"invalid","message":"Bad Request"}}`, [2]string{}, nil},
		"timeout":             {"GET", "/fiber/408", "", 408, `{"error":{"code":"internal","message":"Request Timeout"}}`, [2]string{}, nil},
		"a handler's error":   {"GET", "/boom", "", 500, `{"error":{"code":"internal","message":"internal error"}}`, [2]string{}, nil},
		"disabled connector": {"POST", "/webhooks/disabled", "x", 404,
			`{"error":{"code":"not_found","message":"this connector is disabled: its credentials are not configured"}}`, [2]string{}, nil},
		"over the route's limit": {"POST", "/webhooks/small", "12345", 413,
			`{"error":{"code":"too_large","message":"the request body is over the limit of 4 bytes for this route"}}`, [2]string{}, nil},
		"bad signature": {"POST", "/webhooks/signature", "x", 403,
			`{"error":{"code":"forbidden","message":"signature verification failed"}}`, [2]string{}, nil},
		"stale timestamp": {"POST", "/webhooks/expired", "x", 403,
			`{"error":{"code":"forbidden","message":"signed timestamp out of range"}}`, [2]string{}, nil},
		"no credentials": {"POST", "/webhooks/unauthorized", "x", 401,
			`{"error":{"code":"unauthorized","message":"authentication required"}}`, [2]string{"WWW-Authenticate", `Basic realm="gateway"`}, nil},
		"malformed": {"POST", "/webhooks/malformed", "x", 400,
			`{"error":{"code":"invalid","message":"malformed payload"}}`, [2]string{}, nil},
		"unsupported": {"POST", "/webhooks/unsupported", "x", 415,
			`{"error":{"code":"unsupported_media_type","message":"unsupported media type"}}`, [2]string{}, nil},
		"webhook bug": {"POST", "/webhooks/broken", "x", 500,
			`{"error":{"code":"internal","message":"internal error"}}`, [2]string{}, nil},
		"kafka down": {"POST", "/webhooks/kafka", "x", 503,
			`{"error":{"code":"unavailable","message":"the event could not be stored; retry later"}}`, [2]string{}, nil},
		"media link invalid": {"GET", "/media/a/b?sig=no", "", 403,
			`{"error":{"code":"forbidden","message":"the link is invalid or has expired"}}`, [2]string{}, nil},
		"media gone": {"GET", "/media/gone?sig=ok", "", 404,
			`{"error":{"code":"not_found","message":"file not found"}}`, [2]string{}, nil},
		"media broken": {"GET", "/media/broken?sig=ok", "", 500,
			`{"error":{"code":"internal","message":"internal error"}}`, [2]string{}, nil},
		"chat without websocket": {"GET", "/chat/ws", "", 426,
			`{"error":{"code":"upgrade_required","message":"connect with a websocket"}}`, [2]string{}, nil},
		"chat from another site": {"GET", "/chat/ws", "", 403, `{"error":{"code":"forbidden","message":"origin not allowed"}}`, [2]string{},
			[]string{"Connection", "Upgrade", "Upgrade", "websocket", "Origin", "https://evil.example"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := httptest.NewRequest(tc.method, tc.path, body)
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			res, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status || string(got) != tc.want {
				t.Errorf("%d %s, want %d %s", res.StatusCode, got, tc.status, tc.want)
			}
			if ct := res.Header.Get("Content-Type"); ct != fiber.MIMEApplicationJSON {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.header[0] != "" && res.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s: %q, want %q", tc.header[0], res.Header.Get(tc.header[0]), tc.header[1])
			}
		})
	}
	if res, err := app.Test(httptest.NewRequest(http.MethodGet, "/media/file?sig=ok", nil), -1); err != nil || res.StatusCode != 200 {
		t.Fatalf("media: %v %v", res, err)
	}
}
