package normalize

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestNewIDIsAUUIDv7(t *testing.T) {
	before := time.Now().UnixMilli()
	id := NewID()
	after := time.Now().UnixMilli()
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 || u.String() != id {
		t.Fatalf("NewID() = %q: not a UUID in its canonical form (%v)", id, err)
	}
	if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
		t.Fatalf("NewID() = %q: version %d, variant %v; want 7, RFC4122", id, u.Version(), u.Variant())
	}
	sec, nsec := u.Time().UnixTime()
	if ms := sec*1000 + nsec/1e6; ms < before || ms > after+1 {
		t.Fatalf("NewID() = %q: time %d ms, want within [%d, %d]", id, ms, before, after)
	}
}

// TestNewIDsIncrease: the ids of one process are strictly increasing, also
// when made concurrently and faster than the clock moves, and the random
// bits differ.
func TestNewIDsIncrease(t *testing.T) {
	const goroutines, each = 4, 5000
	lists := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				lists[g] = append(lists[g], NewID())
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	tails := map[string]bool{}
	for _, ids := range lists {
		for i, id := range ids {
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("%q after %q: not increasing", id, ids[i-1])
			}
			if seen[id] {
				t.Fatalf("%q made twice", id)
			}
			seen[id], tails[id[19:]] = true, true
		}
	}
	if len(tails) < len(seen)-1 {
		t.Fatalf("%d random parts among %d ids", len(tails), len(seen))
	}
}

// TestV7TimeCountsWhenTheClockStands: ids made within one clock reading,
// or while the clock goes back, take the next value of the counter.
func TestV7TimeCountsWhenTheClockStands(t *testing.T) {
	at := time.Now().Add(time.Hour)
	a := v7Time(at)
	b := v7Time(at)
	c := v7Time(at.Add(-time.Second))
	if b != a+1 || c != b+1 {
		t.Fatalf("v7Time: %d, %d, %d; want consecutive", a, b, c)
	}
	if d := v7Time(at.Add(time.Millisecond)); d>>12 != at.UnixMilli()+1 {
		t.Fatalf("v7Time a millisecond later: %d ms, want %d", d>>12, at.UnixMilli()+1)
	}
}

// TestNewIDAllocatesOnlyItsString: github.com/google/uuid's NewV7 and
// String took two allocations and a lock per id.
func TestNewIDAllocatesOnlyItsString(t *testing.T) {
	if n := testing.AllocsPerRun(1000, func() { _ = NewID() }); n > 1 {
		t.Fatalf("NewID: %.1f allocations, want 1", n)
	}
}

// BenchmarkNewID compares NewID with github.com/google/uuid's, which it
// replaces.
//
//	go test -run '^$' -bench NewID -benchmem ./normalize
func BenchmarkNewID(b *testing.B) {
	b.Run("NewID", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = NewID()
		}
	})
	b.Run("google-uuid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = uuid.Must(uuid.NewV7()).String()
		}
	})
}
