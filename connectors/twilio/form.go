package twilio

import (
	"bytes"
	"net/url"
	"strings"
)

// parseQuery is url.ParseQuery of a form body with fewer allocations: one
// string of the body, one slice holding a value of every name, the map;
// a name or value without escapes is a substring of the body. A body
// net/url would treat specially (a semicolon, a bad escape, more than
// MaxParams separators) goes through url.ParseQuery itself, so the result
// and the error are always its own.
func parseQuery(body []byte) (url.Values, error) {
	n := bytes.Count(body, []byte{'&'}) + 1
	if n > MaxParams+1 || bytes.IndexByte(body, ';') >= 0 {
		return url.ParseQuery(string(body))
	}
	s := string(body)
	m := make(url.Values, n)
	vals := make([]string, n)
	used := 0
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return url.ParseQuery(string(body))
		}
		if vs, ok := m[k]; ok {
			m[k] = append(vs, v) // a new array: vals' next element is not vs's
			continue
		}
		vals[used] = v
		m[k] = vals[used : used+1 : used+1]
		used++
	}
	return m, nil
}
