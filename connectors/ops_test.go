package connectors_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/opengateway/gateway/connectors"
)

type state struct {
	name string
	ok   bool
}

func (s state) Ping(context.Context) error { return errors.New("Ping must not be called on a Stater") }

func (s state) Status(context.Context) (string, bool) { return s.name, s.ok }

// A check with a state of its own (Kafka down, the spool taking webhooks)
// names that state; /readyz passes or fails as the check says.
func TestReadyzStates(t *testing.T) {
	for name, tc := range map[string]struct {
		kafka connectors.Pinger
		want  string
	}{
		"spooling is ready": {state{"spooling", true}, `200 {"checks":{"kafka":"spooling","workers":"ok"},"status":"ok"}`},
		"a failing state":   {state{"failing", false}, `503 {"checks":{"kafka":"failing","workers":"ok"},"status":"unavailable"}`},
		"a plain pinger":    {connectors.PingFunc(func(context.Context) error { return errors.New("down") }), `503 {"checks":{"kafka":"failing","workers":"ok"},"status":"unavailable"}`},
	} {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			app := connectors.NewApp(connectors.Config{Log: log})
			connectors.MountOps(app, connectors.OpsConfig{Log: log, Ready: map[string]connectors.Pinger{
				"kafka": tc.kafka, "workers": connectors.PingFunc(func(context.Context) error { return nil })}})
			resp, err := app.Test(httptest.NewRequest("GET", "/readyz", nil))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if got := resp.Status[:3] + " " + string(b); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
