package normalize

import (
	"crypto/rand"
	"sync/atomic"
	"time"
)

// lastV7 is the time part of the last id NewID made: milliseconds since
// the epoch << 12 | a 12-bit fraction of the millisecond. Every id takes a
// larger one, so that the ids of one process are strictly increasing.
var lastV7 atomic.Int64

// v7Time returns the time part of a new id: the clock's, or one more than
// the last id's when the clock has not moved past it (the RFC 9562 method 3
// counter, as github.com/google/uuid does it), without a lock.
func v7Time(now time.Time) int64 {
	nano := now.UnixNano()
	milli := nano / 1e6
	t := milli<<12 | (nano-milli*1e6)>>8 // 1e6>>8 < 1<<12
	for {
		last := lastV7.Load()
		next := max(t, last+1)
		if lastV7.CompareAndSwap(last, next) {
			return next
		}
	}
}

// NewID returns a new time-ordered gateway id: a UUIDv7 (RFC 9562) in
// its 36-character form, 48 bits of Unix milliseconds, 12 bits of the
// millisecond's fraction (a counter when ids are made faster than it
// moves) and 62 bits from crypto/rand. The ids of one process are strictly
// increasing. It allocates only the string.
func NewID() string {
	var u [16]byte
	rand.Read(u[8:]) // never fails (crypto/rand crashes the program instead)
	t := v7Time(time.Now())
	ms, seq := t>>12, t&0xfff
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6], u[7] = 0x70|byte(seq>>8), byte(seq)
	u[8] = u[8]&0x3f | 0x80 // the variant, 10
	var buf [36]byte
	return string(appendUUID(buf[:0], &u))
}

// appendUUID appends u in its 8-4-4-4-12 hexadecimal form.
func appendUUID(dst []byte, u *[16]byte) []byte {
	const hex = "0123456789abcdef"
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[b>>4], hex[b&0x0f])
	}
	return dst
}
