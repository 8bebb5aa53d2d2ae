package twilio

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// parseQuery gives exactly what url.ParseQuery gives, values and error,
// on forms Twilio sends and on every odd form: repeated names, empty
// parts, escapes good and bad, semicolons, too many separators.
func TestParseQueryIsNetURLs(t *testing.T) {
	forms := []string{"", "a", "a=", "=b", "&", "&&a=1&&", "a=1&a=2&b=3&a=1", "From=%2B15551230001&Body=hello+world%21",
		"a=%zz&b=1", "a=1;b=2", "a%3Db=c%26d", "a=1&b", "x=%", "%=1", "a=1&a", strings.Repeat("&", MaxParams+5) + "a=1",
		"Body=caf%C3%A9&To=whatsapp%3A%2B15551230002", "a=+&b=%20"}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "ab=&%2B+;zZ0"
	for range 20000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		forms = append(forms, string(b))
	}
	for _, f := range forms {
		got, gotErr := parseQuery([]byte(f))
		want, wantErr := url.ParseQuery(f)
		if !reflect.DeepEqual(got, want) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("%q: %v, %v; url.ParseQuery: %v, %v", f, got, gotErr, want, wantErr)
		}
	}
}

// Repeated names do not share storage: appending to one name's values
// never changes another's.
func TestParseQueryValuesApart(t *testing.T) {
	m, err := parseQuery([]byte("a=1&b=2&a=3&c=4"))
	if err != nil {
		t.Fatal(err)
	}
	m["a"] = append(m["a"], "x")
	m["b"] = append(m["b"], "y")
	if !reflect.DeepEqual(m, url.Values{"a": {"1", "3", "x"}, "b": {"2", "y"}, "c": {"4"}}) {
		t.Fatalf("%v", m)
	}
}
