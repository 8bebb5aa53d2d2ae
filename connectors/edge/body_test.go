package edge

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
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

// ReadOwnBody returns the buffer a streamed body was read into (the
// request's body from then on, nothing copied), and a copy of a body the
// server had read into its own reused buffers.
func TestReadOwnBody(t *testing.T) {
	app := fiber.New()
	const text = "From=%2B15551230001&Body=hi"

	var streamed fasthttp.RequestCtx
	streamed.Request.SetBodyStream(strings.NewReader(text), len(text))
	c := app.AcquireCtx(&streamed)
	body, err := ReadOwnBody(c, 1<<10)
	if err != nil || string(body) != text {
		t.Fatalf("streamed: %q, %v", body, err)
	}
	if kept := c.Request().Body(); &kept[0] != &body[0] {
		t.Fatal("streamed: the body returned is a copy of the one read")
	}
	app.ReleaseCtx(c)

	var read fasthttp.RequestCtx
	read.Request.SetBody([]byte(text))
	c = app.AcquireCtx(&read)
	defer app.ReleaseCtx(c)
	body, err = ReadOwnBody(c, 1<<10)
	if err != nil || string(body) != text {
		t.Fatalf("read by the server: %q, %v", body, err)
	}
	copy(c.Request().Body(), "XXXX") // the next request on the connection
	if string(body) != text {
		t.Fatalf("read by the server: the body returned is the server's buffer (%q)", body)
	}
	if _, err := ReadOwnBody(c, 3); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}
