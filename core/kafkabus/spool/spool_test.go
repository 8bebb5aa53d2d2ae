package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core/kafkabus"
)

func rec(i int) kafkabus.Record {
	return kafkabus.Record{Topic: "gateway.inbound.v1", Key: []byte(fmt.Sprintf("key-%d", i%3)),
		Value:   []byte(fmt.Sprintf(`{"n":%d}`, i)),
		Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}
}

func open(t *testing.T, dir string, opt Options) *Spool {
	t.Helper()
	s, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// drain reads and acknowledges everything, returning the records and the
// damaged frames skipped.
func drain(t *testing.T, s *Spool, per int) (out []kafkabus.Record, damaged int) {
	t.Helper()
	for i := 0; !s.Empty(); i++ {
		if i > 10000 {
			t.Fatal("the spool does not empty")
		}
		b, err := s.Read(per, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Records...)
		damaged += len(b.damaged)
		if err := s.Ack(b); err != nil {
			t.Fatal(err)
		}
	}
	return out, damaged
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	sort.Strings(m)
	return m
}

func TestAppendReadAck(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := open(t, dir, Options{Registerer: reg})
	want := []kafkabus.Record{
		rec(0),
		{Topic: "gateway.raw.v1", Key: []byte{}, Value: nil, Partition: 2, PartitionSet: true},
		{Topic: "gateway.raw.v1", Key: nil, Value: []byte("body"), Headers: []kafka.Header{{Key: "a", Value: nil}, {Key: "b", Value: []byte{}}}},
	}
	if err := s.Append(want...); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(rec(3)); err != nil {
		t.Fatal(err)
	}
	want = append(want, rec(3))
	if s.Empty() || s.Records() != 4 || s.Bytes() == 0 {
		t.Fatalf("after 4 appends: empty %v, records %d, bytes %d", s.Empty(), s.Records(), s.Bytes())
	}
	if got := testutil.ToFloat64(s.results.WithLabelValues("spooled")); got != 4 {
		t.Errorf("spooled = %v, want 4", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP gateway_spool_records Records in the spool, waiting for Kafka.
# TYPE gateway_spool_records gauge
gateway_spool_records 4
`), "gateway_spool_records"); err != nil {
		t.Error(err)
	}
	if s.OldestAge() <= 0 {
		t.Errorf("oldest age %v, want > 0", s.OldestAge())
	}

	// Read does not move the position: a failed produce reads them again.
	b, err := s.Read(2, 1<<20)
	if err != nil || len(b.Records) != 2 {
		t.Fatalf("read: %d records, %v", len(b.Records), err)
	}
	again, _ := s.Read(2, 1<<20)
	if !reflect.DeepEqual(b.Records, again.Records) {
		t.Fatal("a second read without ack returned other records")
	}
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	if s.Records() != 2 {
		t.Fatalf("records after acking 2: %d", s.Records())
	}
	rest, damaged := drain(t, s, 10)
	got := append(b.Records, rest...)
	if !reflect.DeepEqual(got, want) || damaged != 0 {
		t.Fatalf("read back:\n%+v\nwant\n%+v (damaged %d)", got, want, damaged)
	}
	if s.Records() != 0 || s.Bytes() != 0 || s.OldestAge() != 0 {
		t.Errorf("drained spool: records %d bytes %d age %v", s.Records(), s.Bytes(), s.OldestAge())
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("drained segments left on disk: %v", segs)
	}
	if got := testutil.ToFloat64(s.results.WithLabelValues("drained")); got != 4 {
		t.Errorf("drained = %v, want 4", got)
	}
	// Writing again after a full drain works, in a new segment.
	if err := s.Append(rec(9)); err != nil {
		t.Fatal(err)
	}
	if got, _ := drain(t, s, 10); len(got) != 1 || string(got[0].Value) != `{"n":9}` {
		t.Fatalf("after a full drain: %v", got)
	}
}

func TestRestartKeepsOrderAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 200})
	for i := range 30 {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segments(t, dir)); n < 5 {
		t.Fatalf("%d segments, want several (SegmentBytes 200)", n)
	}
	b, _ := s.Read(7, 1<<20)
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	b, _ = s.Read(3, 1<<20) // read, never acknowledged: read again after the restart
	_ = b
	s.Close()

	s = open(t, dir, Options{SegmentBytes: 200})
	if s.Records() != 23 {
		t.Fatalf("after restart: %d records, want 23", s.Records())
	}
	for i := 30; i < 35; i++ {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	got, damaged := drain(t, s, 4)
	if damaged != 0 || len(got) != 28 {
		t.Fatalf("%d records (%d damaged), want 28", len(got), damaged)
	}
	for i, r := range got {
		if want := fmt.Sprintf(`{"n":%d}`, i+7); string(r.Value) != want {
			t.Fatalf("record %d is %s, want %s", i, r.Value, want)
		}
	}
}

// A crash mid-write leaves a short frame at the end of the last segment:
// the records before it are drained, the tail is skipped and counted,
// records written after the restart follow.
func TestTornTail(t *testing.T) {
	for name, damage := range map[string]func(path string, size int64) error{
		"truncated last frame": func(path string, size int64) error { return os.Truncate(path, size-5) },
		"half a header":        func(path string, size int64) error { return appendBytesTo(path, []byte{0, 0, 0}) },
		"length past the end":  func(path string, size int64) error { return appendBytesTo(path, []byte{0, 0, 1, 0, 1, 2, 3, 4, 5}) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			reg := prometheus.NewRegistry()
			s := open(t, dir, Options{})
			for i := range 3 {
				if err := s.Append(rec(i)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			seg := segments(t, dir)[0]
			info, _ := os.Stat(seg)
			if err := damage(seg, info.Size()); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, Options{Registerer: reg})
			if err := s.Append(rec(3)); err != nil {
				t.Fatal(err)
			}
			got, damaged := drain(t, s, 10)
			var vals []string
			for _, r := range got {
				vals = append(vals, string(r.Value))
			}
			want := `{"n":0} {"n":1} {"n":2} {"n":3}`
			if name == "truncated last frame" {
				want = `{"n":0} {"n":1} {"n":3}`
			}
			if strings.Join(vals, " ") != want || damaged != 1 {
				t.Fatalf("drained %v (%d damaged), want %s and 1 damaged", vals, damaged, want)
			}
			if got := testutil.ToFloat64(s.results.WithLabelValues("corrupt")); got != 1 {
				t.Errorf("corrupt = %v, want 1", got)
			}
		})
	}
}

func appendBytesTo(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	return err
}

// A damaged frame in the middle (a flipped CRC byte, a flipped payload
// byte) is skipped and counted; the records around it are drained.
func TestCorruptFrameInTheMiddle(t *testing.T) {
	for name, at := range map[string]func(frameStart, frameLen int64) int64{
		"flipped crc byte":     func(s, _ int64) int64 { return s + 5 },
		"flipped payload byte": func(s, n int64) int64 { return s + n - 2 },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{})
			frameLen := int64(len(appendFrame(nil, rec(1), time.Now())))
			for i := range 3 {
				if err := s.Append(rec(i)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			seg := segments(t, dir)[0]
			b, _ := os.ReadFile(seg)
			first := int64(len(appendFrame(nil, rec(0), time.Now())))
			b[at(first, frameLen)] ^= 0xff
			if err := os.WriteFile(seg, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, Options{})
			if s.Records() != 2 {
				t.Errorf("records counted at open: %d, want 2", s.Records())
			}
			got, damaged := drain(t, s, 10)
			if len(got) != 2 || string(got[0].Value) != `{"n":0}` || string(got[1].Value) != `{"n":2}` || damaged != 1 {
				t.Fatalf("drained %d records (%d damaged): %v", len(got), damaged, got)
			}
		})
	}
}

func TestFullIsRefused(t *testing.T) {
	dir := t.TempDir()
	size := int64(len(appendFrame(nil, rec(0), time.Now())))
	s := open(t, dir, Options{MaxBytes: 3 * size})
	for i := range 3 {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Writable() {
		t.Error("a full spool says it is writable")
	}
	if err := s.Append(rec(3)); !errors.Is(err, ErrFull) {
		t.Fatalf("append to a full spool: %v, want ErrFull", err)
	}
	if got := testutil.ToFloat64(s.results.WithLabelValues("refused")); got != 1 {
		t.Errorf("refused = %v, want 1", got)
	}
	if s.Records() != 3 {
		t.Errorf("records %d, want 3", s.Records())
	}
	drain(t, s, 10)
	if !s.Writable() || s.Append(rec(4)) != nil {
		t.Fatal("a drained spool does not take records again")
	}
}

// Append returns only after the fsync, and an fsync that fails leaves
// nothing behind: the records are refused and the next append works.
func TestFsync(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var synced []string
	fail := false
	s := open(t, dir, Options{Sync: func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		if fail && strings.HasSuffix(f.Name(), segSuffix) {
			return errors.New("I/O error")
		}
		synced = append(synced, filepath.Base(f.Name()))
		return nil
	}})
	if err := s.Append(rec(0)); err != nil {
		t.Fatal(err)
	}
	if !slicesContain(synced, filepath.Base(dir)) || !slicesContain(synced, "0000000000000001.seg") {
		t.Fatalf("synced %v: want the new segment and its directory", synced)
	}
	fail = true
	if err := s.Append(rec(1)); err == nil {
		t.Fatal("append whose fsync failed returned nil")
	}
	fail = false
	if s.Records() != 1 {
		t.Fatalf("records %d after a failed append, want 1", s.Records())
	}
	if err := s.Append(rec(2)); err != nil {
		t.Fatal(err)
	}
	synced = nil
	got, damaged := drain(t, s, 10)
	if len(got) != 2 || string(got[0].Value) != `{"n":0}` || string(got[1].Value) != `{"n":2}` || damaged != 0 {
		t.Fatalf("drained %v (%d damaged), want n 0 and 2", got, damaged)
	}
	if !slicesContain(synced, positionFile+".tmp") {
		t.Errorf("ack synced %v: want the position file", synced)
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// A damaged position file drains from the oldest segment again (records may
// reach Kafka twice, none is lost).
func TestDamagedPosition(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	for i := range 4 {
		_ = s.Append(rec(i))
	}
	b, _ := s.Read(2, 1<<20)
	_ = s.Ack(b)
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, positionFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{})
	if got, _ := drain(t, s, 10); len(got) != 4 {
		t.Fatalf("%d records after a damaged position, want all 4", len(got))
	}
}

type fakeKafka struct {
	mu   sync.Mutex
	down bool
	err  error
	got  []kafkabus.Record
	// refuse, when set, is the value of a record Kafka refuses for good
	// (and with it the batch that carries it).
	refuse string
}

func (f *fakeKafka) Produce(_ context.Context, recs ...kafkabus.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	for _, r := range recs {
		if f.refuse != "" && string(r.Value) == f.refuse && !f.down {
			return fmt.Errorf("%w: [10] Message Size Too Large", kafkabus.ErrRejected)
		}
	}
	if f.down {
		return fmt.Errorf("%w: connection refused", kafkabus.ErrUnavailable)
	}
	f.got = append(f.got, recs...)
	return nil
}

func (f *fakeKafka) set(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *fakeKafka) values() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.got {
		out = append(out, string(r.Value))
	}
	return out
}

func TestPublisher(t *testing.T) {
	ctx := t.Context()
	s := open(t, t.TempDir(), Options{})
	k := &fakeKafka{}
	d := NewDrainer(s, k, slogDiscard())
	d.Retry.Base, d.Retry.Max = time.Millisecond, 5*time.Millisecond
	p := NewPublisher(k, s, d)

	if err := p.Produce(ctx, rec(0)); err != nil || s.Records() != 0 {
		t.Fatalf("kafka up: %v, %d spooled", err, s.Records())
	}
	k.set(true)
	for i := 1; i <= 3; i++ {
		if err := p.Produce(ctx, rec(i)); err != nil {
			t.Fatalf("kafka down: %v, want nil (spooled)", err)
		}
	}
	if s.Records() != 3 {
		t.Fatalf("%d spooled, want 3", s.Records())
	}
	// Kafka is back, but the spool is not empty: new records queue behind.
	k.set(false)
	if err := p.Produce(ctx, rec(4)); err != nil || s.Records() != 4 {
		t.Fatalf("with records spooled: %v, %d spooled, want 4", err, s.Records())
	}
	done := make(chan struct{})
	runCtx, stop := context.WithCancel(ctx)
	go func() { d.Run(runCtx); close(done) }()
	waitFor(t, func() bool { return s.Empty() })
	if err := p.Produce(ctx, rec(5)); err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	want := `{"n":0} {"n":1} {"n":2} {"n":3} {"n":4} {"n":5}`
	if got := strings.Join(k.values(), " "); got != want {
		t.Fatalf("kafka got %s, want %s", got, want)
	}

	// An error that is not Kafka being unavailable is returned, not spooled.
	k.err = errors.New("bad record")
	if err := p.Produce(ctx, rec(6)); err == nil || s.Records() != 0 {
		t.Fatalf("permanent error: %v, %d spooled", err, s.Records())
	}
}

// A spooled record Kafka refuses for good (larger than the topic takes) is
// set aside under rejected/, counted, and the records behind it drain in
// order: it never holds up the spool.
func TestDrainSetsAsideARecordKafkaRefuses(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := open(t, dir, Options{Registerer: reg})
	k := &fakeKafka{down: true, refuse: `{"n":3}`}
	d := NewDrainer(s, k, slogDiscard())
	d.Retry.Base, d.Retry.Max = time.Millisecond, 5*time.Millisecond
	p := NewPublisher(k, s, d)
	for i := 0; i < 7; i++ {
		if err := p.Produce(t.Context(), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	k.set(false)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	waitFor(t, s.Empty)
	stop()
	<-done
	if got, want := strings.Join(k.values(), " "), `{"n":0} {"n":1} {"n":2} {"n":4} {"n":5} {"n":6}`; got != want {
		t.Fatalf("kafka got %s, want %s", got, want)
	}
	files, _ := filepath.Glob(filepath.Join(dir, RejectedDir, "*"+segSuffix))
	if len(files) != 1 {
		t.Fatalf("rejected files %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	fr := newFrameReader(bytes.NewReader(b), 0, int64(len(b)))
	payload, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	if r, err := decode(payload); err != nil || !reflect.DeepEqual(r, rec(3)) {
		t.Fatalf("set aside %+v, %v; want %+v", r, err, rec(3))
	}
	if n := testutil.ToFloat64(s.results.WithLabelValues("rejected")); n != 1 {
		t.Fatalf("rejected counted %v, want 1", n)
	}
	// The spool opens again past it, with nothing to drain.
	s.Close()
	if again := open(t, dir, Options{}); !again.Empty() {
		t.Fatalf("reopened spool holds %d records", again.Records())
	}
}

func TestPublisherFullSpoolIsUnavailable(t *testing.T) {
	size := int64(len(appendFrame(nil, rec(0), time.Now())))
	s := open(t, t.TempDir(), Options{MaxBytes: size})
	k := &fakeKafka{down: true}
	p := NewPublisher(k, s, NewDrainer(s, k, slogDiscard()))
	if err := p.Produce(t.Context(), rec(0)); err != nil {
		t.Fatal(err)
	}
	err := p.Produce(t.Context(), rec(1))
	if !errors.Is(err, kafkabus.ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("full spool: %v, want ErrUnavailable (503)", err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func FuzzFrames(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, rec(0), time.Unix(1, 0)), kafkabus.Record{Topic: "t"}, time.Unix(2, 0)))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := newFrameReader(bytes.NewReader(b), 0, int64(len(b)))
		for {
			payload, err := fr.next()
			if err != nil && !errors.Is(err, errCorrupt) {
				return
			}
			if err == nil {
				if r, err := decode(payload); err == nil {
					again, err := decode(appendFrame(nil, r, time.Unix(0, 0))[frameHeader:])
					if err != nil || !reflect.DeepEqual(again, r) {
						t.Fatalf("decode(encode(%+v)) = %+v, %v", r, again, err)
					}
				}
			}
		}
	})
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
