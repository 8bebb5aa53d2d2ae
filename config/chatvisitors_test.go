package config

import (
	"strings"
	"testing"
)

// GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE: 10 by default, any count from 1;
// an invalid value is an error naming the variable.
func TestChatNewVisitorsPerMinute(t *testing.T) {
	for in, want := range map[string]int{"": 10, "1": 1, "600": 600} {
		c, err := Load(env(map[string]string{"GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE": in}))
		if err != nil || c.ChatNewVisitorsPerMinute != want {
			t.Errorf("%q: %d (%v), want %d", in, c.ChatNewVisitorsPerMinute, err, want)
		}
	}
	for _, in := range []string{"0", "-5", "ten"} {
		_, err := Load(env(map[string]string{"GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE": in}))
		if err == nil || !strings.Contains(err.Error(), "GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE") {
			t.Errorf("%q: %v, want an error naming GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE", in, err)
		}
	}
}
