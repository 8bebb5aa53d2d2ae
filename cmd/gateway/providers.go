package main

import (
	"gateway/config"
	"gateway/core"
	"gateway/normalize"
	"gateway/outbox"
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
func (g *Gateway) providers() map[string]outbox.Sender {
	return map[string]outbox.Sender{}
}
