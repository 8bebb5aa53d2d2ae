package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/opengateway/gateway/connectors/twilio"
)

// sign prints the signature header a provider would send for a body read
// from stdin, so operators can send test webhooks with curl:
//
//	gateway sign twilio -url https://gw.example.com/webhooks/twilio/messaging < body.form
//	gateway sign meta < body.json
func sign(args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: gateway sign twilio -url URL < form | gateway sign meta < json")
	}
	fs := flag.NewFlagSet("sign "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	u := fs.String("url", "", "the public URL the provider calls (Twilio)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(stdin, 32<<20))
	if err != nil {
		return err
	}
	switch args[0] {
	case "twilio":
		token := getenv("TWILIO_AUTH_TOKEN")
		if token == "" || *u == "" {
			return errors.New("sign twilio: needs TWILIO_AUTH_TOKEN and -url")
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return fmt.Errorf("sign twilio: body is not form-encoded: %w", err)
		}
		fmt.Fprintf(stdout, "X-Twilio-Signature: %s\n", twilio.Sign(token, *u, form))
	case "meta":
		secret := getenv("META_APP_SECRET")
		if secret == "" {
			return errors.New("sign meta: needs META_APP_SECRET")
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		fmt.Fprintf(stdout, "X-Hub-Signature-256: sha256=%s\n", hex.EncodeToString(mac.Sum(nil)))
	default:
		return fmt.Errorf("sign: unknown provider %q (twilio, meta)", args[0])
	}
	return nil
}
