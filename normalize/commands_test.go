package normalize

import "testing"

// A command's source names its bot as /bots/<name>; any other source names
// nothing and is refused.
func TestBotName(t *testing.T) {
	for source, want := range map[string]string{
		"/bots/triage":                      "triage",
		"/bots/auto-close.2":                "auto-close.2",
		"/bots/":                            "",
		"/bots":                             "",
		"":                                  "",
		"/gateway/core":                     "",
		"bots/triage":                       "",
		"/bots/triage/x":                    "",
		"/bots/tri age":                     "",
		"/bots/" + string(make([]byte, 65)): "",
	} {
		got, err := BotName(source)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("BotName(%q) = %q, %v; want %q", source, got, err, want)
		}
	}
}
