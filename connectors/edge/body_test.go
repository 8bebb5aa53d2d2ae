package edge

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A body whose length is announced is read into one buffer of its size:
// one allocation, no growing (the old bytes.Buffer and LimitReader took
// four).
func TestReadAtMostKnownLengthAllocatesOnce(t *testing.T) {
	body := bytes.Repeat([]byte("From=%2B15551230001&"), 40)
	r := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(200, func() {
		r.Reset(body)
		got, err := readAtMost(r, 1<<20, len(body))
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d bytes, %v", len(got), err)
		}
	})
	if allocs > 1 {
		t.Fatalf("%.0f allocations to read a body of known length, want 1", allocs)
	}
}

// The limit holds whatever is announced: a body over max is refused, one
// of exactly max is read, an unannounced one grows as bytes arrive.
func TestReadAtMostLimits(t *testing.T) {
	const max = 100000
	for _, c := range []struct {
		n, announced int
		err          error
	}{{max, max, nil}, {max + 1, max, ErrBodyTooLarge}, {max + 1, -1, ErrBodyTooLarge}, {max, -1, nil}, {10, -1, nil},
		{0, 0, nil}, {5, 10, nil}, {4 * bodyChunk, -1, ErrBodyTooLarge}, {4 * bodyChunk, 10, ErrBodyTooLarge}} {
		got, err := readAtMost(strings.NewReader(strings.Repeat("x", c.n)), max, c.announced)
		if !errors.Is(err, c.err) || (err == nil && len(got) != c.n) {
			t.Errorf("%d bytes announced %d: %d bytes, %v; want %v", c.n, c.announced, len(got), err, c.err)
		}
	}
}
