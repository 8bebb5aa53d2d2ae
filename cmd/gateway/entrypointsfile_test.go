package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// twoTwilioNumbers is an entry points file of two Twilio numbers, one with
// an account of its own.
const twoTwilioNumbers = `entry_points:
  - id: twilio
    provider: twilio
    address: "+15558675310"
    default: true
  - id: support-uk
    provider: twilio
    address: "+44 7700 900123"
    inbox: uk
    routing: round_robin
    agents: [ann, bob]
    credentials:
      account_sid: TWILIO_ACCOUNT_SID_UK
      auth_token: TWILIO_AUTH_TOKEN_UK
`

const ukToken = "ukAuthTokenNeverShown0123" // alphanumeric, as Twilio's are

// A gateway started with a file of two Twilio entry points logs them and
// lists them at GET /v1/entry-points (admins), never a credential nor its
// variable; the entry point a webhook's conversation started at has its
// last webhook time. An invalid file stops the start with the line.
func TestEntryPointsFileEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			path := entryPointsFile(t, twoTwilioNumbers)
			_, cfg := testConfig(t, dialect, map[string]string{"GATEWAY_HTTP_ADDR": "127.0.0.1:0",
				"GATEWAY_EMBEDDED_KAFKA_ADDR": "127.0.0.1:0", "GATEWAY_DATA_DIR": t.TempDir(), "GATEWAY_LOG_LEVEL": "info"},
				map[string]string{"GATEWAY_ENTRY_POINTS": path, "TWILIO_ACCOUNT_SID_UK": "ACuk999", "TWILIO_AUTH_TOKEN_UK": ukToken,
					"GATEWAY_API_TOKENS": "admin:ops:ops-token,agent:ann:ann-token"})
			logs := &lockedBuffer{}
			g, err := start(context.Background(), cfg, logs)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { g.Close() })
			if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000091", "+14155550101", "Hello"), nil); s != http.StatusOK {
				t.Fatalf("Twilio SMS webhook: %d %s", s, b)
			}
			type listed struct {
				ID, Provider, Address, Inbox, Routing string
				Agents                                []string
				Default, Enabled                      bool
				LastWebhookAt                         *time.Time `json:"last_webhook_at"`
			}
			var got struct {
				EntryPoints []listed `json:"entry_points"`
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				getAs(t, g, "ops-token", "/v1/entry-points", &got)
				if len(got.EntryPoints) == 2 && got.EntryPoints[0].LastWebhookAt != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(got.EntryPoints) != 2 {
				t.Fatalf("entry points %+v", got.EntryPoints)
			}
			us, uk := got.EntryPoints[0], got.EntryPoints[1]
			if us.ID != "twilio" || !us.Default || !us.Enabled || us.Address != "+15558675310" || us.LastWebhookAt == nil {
				t.Errorf("twilio %+v", us)
			}
			if uk.ID != "support-uk" || uk.Address != "+447700900123" || uk.Inbox != "uk" || uk.Routing != "round_robin" ||
				len(uk.Agents) != 2 || !uk.Enabled || uk.Default || uk.LastWebhookAt != nil {
				t.Errorf("support-uk %+v", uk)
			}
			status, body := getRaw(t, g, "ann-token", "/v1/entry-points")
			if status != http.StatusForbidden {
				t.Errorf("agent: %d %s", status, body)
			}
			_, body = getRaw(t, g, "ops-token", "/v1/entry-points")
			for _, secret := range []string{ukToken, testToken, "ACuk999", "TWILIO_AUTH_TOKEN_UK", "credentials"} {
				if strings.Contains(body, secret) {
					t.Errorf("GET /v1/entry-points shows %q: %s", secret, body)
				}
				if strings.Contains(logs.String(), secret) && secret != "credentials" {
					t.Errorf("the log shows %q", secret)
				}
			}
			if !strings.Contains(logs.String(), `"entry_point":"support-uk"`) {
				t.Errorf("the start log does not name the entry points: %s", logs)
			}
		})
	}
}

// An invalid entry points file stops the gateway before it starts, with
// the line and id of each problem and no credential.
func TestEntryPointsFileInvalidStopsStart(t *testing.T) {
	bad := strings.Replace(twoTwilioNumbers, `"+44 7700 900123"`, `"+1 555 867 5310"`, 1)
	path := entryPointsFile(t, bad)
	env := map[string]string{"GATEWAY_ENTRY_POINTS": path, "TWILIO_AUTH_TOKEN_UK": ukToken}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &lockedBuffer{})
	if err == nil {
		t.Fatal("the gateway started with an invalid entry points file")
	}
	for _, w := range []string{"GATEWAY_ENTRY_POINTS", `line 6: entry point "support-uk": entry point "twilio" (line 2) has the same twilio address`,
		`line 13: entry point "support-uk": credential account_sid: variable TWILIO_ACCOUNT_SID_UK is not set`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), ukToken) {
		t.Errorf("error shows a credential: %v", err)
	}
}

func getRaw(t *testing.T, g *Gateway, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.Addr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// entryPointsFile writes text as a GATEWAY_ENTRY_POINTS file of the test and
// returns its path.
func entryPointsFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "entry-points.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
