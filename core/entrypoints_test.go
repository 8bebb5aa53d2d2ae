package core

import (
	"strings"
	"testing"

	"github.com/opengateway/gateway/normalize"
)

// A message's entry point is the one it names when that can name an entry
// point, else the one derived from its provider and channel.
func TestMessageEntryPoint(t *testing.T) {
	for named, want := range map[string]string{"support-uk": "support-uk", "": "twilio", "Support UK": "twilio",
		strings.Repeat("a", MaxEntryPointLen+1): "twilio"} {
		m := normalize.Message{Provider: "twilio", Channel: normalize.ChannelSMS, EntryPoint: named}
		if got := MessageEntryPoint(&m); got != want {
			t.Errorf("named %q: %q, want %q", named, got, want)
		}
	}
}
