package normalize

import (
	"errors"
	"net/mail"
	"strings"
)

// ErrAddress is returned for an address that cannot be made canonical.
var ErrAddress = errors.New("invalid address")

// CanonicalPhone returns a phone number in E.164 (+ and 8 to 15 digits).
// Spaces, dots, dashes and parentheses are dropped; a "whatsapp:" or "tel:"
// prefix is removed. A number without + is taken as already international
// (WhatsApp wa_id form). Anything else is an error.
func CanonicalPhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	for _, p := range []string{"whatsapp:", "tel:", "sms:", "mms:"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
		}
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	b.WriteByte('+')
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", ErrAddress
		}
	}
	out := b.String()
	if n := len(out) - 1; n < 8 || n > 15 || out[1] == '0' {
		return "", ErrAddress
	}
	return out, nil
}

// CanonicalEmail returns the bare, lower-cased address of an email address
// that may carry a display name ("Ann <Ann@Example.com>" → "ann@example.com"),
// and the display name.
func CanonicalEmail(s string) (addr, name string, err error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return "", "", ErrAddress
	}
	return strings.ToLower(a.Address), a.Name, nil
}

// KindOf returns the address kind a channel uses for its contacts.
func KindOf(channel string) string {
	switch channel {
	case ChannelSMS, ChannelMMS, ChannelWhatsApp, ChannelVoice:
		return KindPhone
	case ChannelEmail:
		return KindEmail
	case ChannelMessenger:
		return KindMessenger
	case ChannelInstagram:
		return KindInstagram
	case ChannelChat:
		return KindChat
	}
	return ""
}
