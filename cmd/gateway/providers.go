package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
	"github.com/opengateway/gateway/outbox/metasender"
	"github.com/opengateway/gateway/outbox/sendgridsender"
	"github.com/opengateway/gateway/outbox/twiliosender"
)

// senders are the business addresses of proactive messages, by channel.
func senders(cfg config.Config) map[string]core.Sender {
	out := map[string]core.Sender{}
	if cfg.TwilioFromNumber != "" {
		if p, err := normalize.CanonicalPhone(cfg.TwilioFromNumber); err == nil {
			for _, ch := range []string{normalize.ChannelSMS, normalize.ChannelMMS} {
				out[ch] = core.Sender{Party: normalize.Party{Kind: normalize.KindPhone, Address: p}, Provider: "twilio"}
			}
		}
	}
	if cfg.WhatsAppPhoneNumberID != "" && cfg.WhatsAppAccessToken != "" {
		out[normalize.ChannelWhatsApp] = core.Sender{Party: normalize.Party{Kind: normalize.KindPhone, Address: cfg.WhatsAppPhoneNumberID}, Provider: "meta_whatsapp"}
	} else if s, ok := out[normalize.ChannelSMS]; ok {
		out[normalize.ChannelWhatsApp] = s
	}
	if cfg.SendGridFromEmail != "" {
		if e, name, err := normalize.CanonicalEmail(cfg.SendGridFromEmail); err == nil {
			out[normalize.ChannelEmail] = core.Sender{Party: normalize.Party{Kind: normalize.KindEmail, Address: e, Name: name}, Provider: "sendgrid"}
		}
	}
	return out
}

// providers are the outbox's senders by provider name, for the providers
// whose credentials are configured.
func (g *Gateway) providers() (map[string]outbox.Sender, error) {
	cfg := g.cfg
	out := map[string]outbox.Sender{"webchat": outbox.ChatSender{}} // the gateway is the chat's provider
	client := &http.Client{Timeout: 30 * time.Second}
	if cfg.TwilioAccountSID != "" && cfg.TwilioAuthToken != "" {
		callback := ""
		if cfg.PublicURL != "" {
			callback = cfg.PublicURL + "/webhooks/twilio/status"
		}
		s, err := twiliosender.New(twiliosender.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken,
			BaseURL: cfg.TwilioAPIURL, UserAgent: userAgent(), StatusCallback: callback, HTTPClient: client})
		if err != nil {
			return nil, fmt.Errorf("TWILIO_ACCOUNT_SID: %w", err)
		}
		out["twilio"] = s
	}
	if cfg.SendGridAPIKey != "" {
		s, err := sendgridsender.New(sendgridsender.Config{APIKey: cfg.SendGridAPIKey, BaseURL: cfg.SendGridAPIURL, UserAgent: userAgent(), HTTPClient: client})
		if err != nil {
			return nil, fmt.Errorf("SENDGRID_API_KEY: %w", err)
		}
		out["sendgrid"] = s
	}
	if cfg.WhatsAppAccessToken != "" || cfg.MessengerPageAccessToken != "" {
		s, err := metasender.New(metasender.Config{GraphURL: cfg.MetaGraphURL, Version: cfg.MetaGraphVersion,
			WhatsAppToken: cfg.WhatsAppAccessToken, PhoneNumberID: cfg.WhatsAppPhoneNumberID,
			PageToken: cfg.MessengerPageAccessToken, UserAgent: userAgent(), HTTPClient: client})
		if err != nil {
			return nil, fmt.Errorf("WHATSAPP_ACCESS_TOKEN/MESSENGER_PAGE_ACCESS_TOKEN: %w", err)
		}
		if cfg.WhatsAppAccessToken != "" {
			out["meta_whatsapp"] = s
		}
		if cfg.MessengerPageAccessToken != "" {
			out["meta_messenger"], out["meta_instagram"] = s, s
		}
	}
	return out, nil
}
