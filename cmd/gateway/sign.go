package main

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/connectors/twilio"
)

const signUsage = "usage: gateway sign twilio -url URL [-entry-point ID] < form | gateway sign meta < json | " +
	"gateway sign sendgrid inbound [-entry-point ID] | gateway sign sendgrid events -key PRIVATE.pem < json"

// sign prints the header(s) a provider would send with a body read from
// stdin, one per line, so operators can send test webhooks with curl:
//
//	gateway sign twilio -url https://gw.example.com/webhooks/twilio/messaging < body.form
//	gateway sign meta < body.json
//	gateway sign sendgrid inbound                      (reads no body)
//	gateway sign sendgrid events -key sg.pem < events.json
//
// With -entry-point ID (twilio, sendgrid inbound) it signs with the
// credentials that entry point of the GATEWAY_ENTRY_POINTS file has of its
// own, and with the connector's when it has none.
func sign(args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(signUsage)
	}
	provider, rest := args[0], args[1:]
	if provider == "sendgrid" {
		if len(rest) == 0 || (rest[0] != "inbound" && rest[0] != "events") {
			return errors.New("sign sendgrid: say inbound (Inbound Parse) or events (Event Webhook); " + signUsage)
		}
		provider, rest = "sendgrid "+rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("sign "+provider, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	u := fs.String("url", "", "the public URL the provider calls (Twilio)")
	key := fs.String("key", "", "file of the ECDSA private key (PEM) whose public key is SENDGRID_EVENT_PUBLIC_KEY")
	entry := fs.String("entry-point", "", "the id of an entry point of GATEWAY_ENTRY_POINTS to sign for (twilio, sendgrid inbound)")
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("sign %s: %w; %s", provider, err, signUsage)
	}
	if *entry != "" {
		var err error
		if getenv, err = entryPointSecrets(*entry, provider, getenv); err != nil {
			return err
		}
	}
	if provider == "sendgrid inbound" {
		return signSendGridInbound(getenv, stdout)
	}
	body, err := io.ReadAll(io.LimitReader(stdin, 32<<20))
	if err != nil {
		return err
	}
	switch provider {
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
	case "sendgrid events":
		return signSendGridEvents(*key, body, time.Now(), stdout)
	default:
		return fmt.Errorf("sign: unknown provider %q (twilio, meta, sendgrid)", provider)
	}
	return nil
}

// entryPointWebhookSecrets are, by what is signed, the providers of the
// entry points it signs for (Twilio signs messages and calls alike) and,
// by credential, the connector's variable it stands for.
var entryPointWebhookSecrets = map[string]struct {
	providers []string
	vars      map[string]string
}{
	"twilio":           {[]string{config.ProviderTwilio, config.ProviderVoice}, map[string]string{"auth_token": "TWILIO_AUTH_TOKEN"}},
	"sendgrid inbound": {[]string{config.ProviderSendGrid}, map[string]string{"inbound_user": "SENDGRID_INBOUND_USER", "inbound_password": "SENDGRID_INBOUND_PASSWORD"}},
}

// entryPointSecrets returns getenv with the connector's webhook variables
// replaced by the credentials entry point id of the GATEWAY_ENTRY_POINTS
// file has of its own (none: the connector's stay), for signing provider.
func entryPointSecrets(id, provider string, getenv func(string) string) (func(string) string, error) {
	want, ok := entryPointWebhookSecrets[provider]
	if !ok {
		return nil, fmt.Errorf("sign %s: -entry-point is for twilio and sendgrid inbound, whose entry points may have webhook credentials of their own", provider)
	}
	path := getenv("GATEWAY_ENTRY_POINTS")
	if path == "" {
		return nil, fmt.Errorf("sign %s: -entry-point needs GATEWAY_ENTRY_POINTS, the entry points file", provider)
	}
	eps, err := config.LoadEntryPoints(path, getenv)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", provider, err)
	}
	for _, ep := range eps {
		if ep.ID != id {
			continue
		}
		if !slices.Contains(want.providers, ep.Provider) {
			return nil, fmt.Errorf("sign %s: entry point %q is of provider %s, not %s", provider, id, ep.Provider, strings.Join(want.providers, " or "))
		}
		own := map[string]string{}
		for cred, v := range want.vars {
			if val := ep.Credential(cred); val != "" {
				own[v] = val
			}
		}
		return func(k string) string {
			if v, ok := own[k]; ok {
				return v
			}
			return getenv(k)
		}, nil
	}
	return nil, fmt.Errorf("sign %s: no entry point %q in GATEWAY_ENTRY_POINTS", provider, id)
}

// signSendGridInbound prints the basic auth header SendGrid sends to
// Inbound Parse when its URL is https://USER:PASSWORD@host/webhooks/sendgrid/inbound.
func signSendGridInbound(getenv func(string) string, stdout io.Writer) error {
	user, pass := getenv("SENDGRID_INBOUND_USER"), getenv("SENDGRID_INBOUND_PASSWORD")
	if user == "" || pass == "" {
		return errors.New("sign sendgrid inbound: needs SENDGRID_INBOUND_USER and SENDGRID_INBOUND_PASSWORD")
	}
	fmt.Fprintf(stdout, "Authorization: Basic %s\n", base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	return nil
}

// signSendGridEvents prints the two headers of a signed Event Webhook
// request: the timestamp (now) and the ECDSA signature (ASN.1, base64) over
// sha256(timestamp + body), which the gateway checks against
// SENDGRID_EVENT_PUBLIC_KEY.
func signSendGridEvents(keyFile string, body []byte, now time.Time, stdout io.Writer) error {
	if keyFile == "" {
		return errors.New("sign sendgrid events: needs -key FILE, the PEM private key of SENDGRID_EVENT_PUBLIC_KEY")
	}
	k, err := ecdsaKey(keyFile)
	if err != nil {
		return fmt.Errorf("sign sendgrid events: %w", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	h := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	if err != nil {
		return fmt.Errorf("sign sendgrid events: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %s\n%s: %s\n", sendgrid.TimestampHeader, ts, sendgrid.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
	return nil
}

// ecdsaKey reads an ECDSA private key from a PEM file, SEC 1 ("EC PRIVATE
// KEY", as `openssl ecparam -genkey` writes) or PKCS #8 ("PRIVATE KEY").
func ecdsaKey(file string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			return nil, fmt.Errorf("%s holds no EC PRIVATE KEY or PRIVATE KEY block", file)
		}
		switch blk.Type {
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, err
			}
			if ek, ok := k.(*ecdsa.PrivateKey); ok {
				return ek, nil
			}
			return nil, fmt.Errorf("%s: the key is not ECDSA", file)
		}
	}
}
