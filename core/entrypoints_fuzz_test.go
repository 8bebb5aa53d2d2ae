package core_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/opengateway/gateway/core"
)

var entryPointID = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// FuzzEntryPoint fuzzes the entry_point filter of GET /v1/conversations:
// CheckEntryPoint accepts exactly the ids of 1 to 64 characters of
// [a-z0-9-] and refuses the rest with invalid, and every derived entry
// point is an id it accepts.
func FuzzEntryPoint(f *testing.F) {
	for _, s := range []string{"twilio", "whatsapp", "support-us", "", "Twilio", "sms_twilio", "twilio ", "é", "-",
		"0123456789012345678901234567890123456789012345678901234567890123", "a\x00b"} {
		f.Add(s, "twilio", "sms")
	}
	f.Add("x", "meta_whatsapp", "whatsapp")
	f.Add("x", "", "voice")
	f.Fuzz(func(t *testing.T, id, provider, channel string) {
		err := core.CheckEntryPoint(id)
		if valid := entryPointID.MatchString(id); valid != (err == nil) {
			t.Fatalf("CheckEntryPoint(%q) = %v, want valid=%v", id, err, valid)
		}
		var ce *core.Error
		if err != nil && (!errors.As(err, &ce) || ce.Code != core.EINVALID) {
			t.Fatalf("CheckEntryPoint(%q): %v, want an invalid error", id, err)
		}
		if ep := core.EntryPointOf(provider, channel); ep != "" && core.CheckEntryPoint(ep) != nil {
			t.Fatalf("EntryPointOf(%q, %q) = %q, not an entry point id", provider, channel, ep)
		}
	})
}
