// Package spool keeps Kafka records on local disk while Kafka cannot take
// them, and hands them back in order once it can.
//
// The spool is a directory of append-only segment files (0000000000000001.seg,
// …), each a sequence of frames: length, CRC32C, then the record's topic,
// key, headers and value (frame.go). Append writes and fsyncs a webhook's
// records before it returns. A single reader (the Drainer) reads from a
// persisted position and acknowledges what Kafka has taken: the position
// file is replaced and fsynced, fully read segments are deleted. A frame cut
// short by a crash or failing its checksum is skipped, logged and counted;
// it never stops the drain.
//
// Publisher puts the spool in front of a producer: records go straight to
// Kafka while the spool is empty and Kafka takes them, to the spool
// otherwise, so that nothing overtakes what is spooled.
//
// It imports kafkabus (the record and producer types) and core/retry; it
// must not import the core, the connectors or fiber.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/core/kafkabus"
)

// ErrFull is returned by Append when the records would take the spool past
// its size.
var ErrFull = errors.New("spool: full")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("spool: closed")

// Options configures a spool.
type Options struct {
	// MaxBytes bounds the segment files on disk (default 1 GiB).
	MaxBytes int64
	// SegmentBytes is the size past which writes go to a new segment
	// (default MaxBytes/16, between 1 MiB and 64 MiB).
	SegmentBytes int64
	Log          *slog.Logger
	Registerer   prometheus.Registerer
	// Sync makes a file's writes durable (default (*os.File).Sync); tests
	// replace it.
	Sync func(*os.File) error
}

// Spool is the on-disk queue. Append may be called from many goroutines;
// Read and Ack from one reader at a time.
type Spool struct {
	dir string
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	segs    []*segment // oldest first
	w       *os.File   // the last segment, open for appends; nil until needed
	nextID  uint64
	pos     Pos
	records int64 // whole frames not yet acknowledged
	pending int64 // bytes not yet acknowledged
	disk    int64 // bytes of every segment file
	oldest  time.Time
	closed  bool
	full    bool // an append was refused for room, and nothing drained since

	results *prometheus.CounterVec
}

type segment struct {
	id   uint64
	size int64 // durable bytes
}

// Pos is a read position: a segment and a byte offset in it.
type Pos struct {
	Seg uint64
	Off int64
}

const (
	segSuffix    = ".seg"
	positionFile = "position"
)

// Open opens (creating it if needed) the spool in dir and scans what is
// left in it, counting the records still to drain.
func Open(dir string, opt Options) (*Spool, error) {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 30
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = min(max(opt.MaxBytes/16, 1<<20), 64<<20)
	}
	if opt.Sync == nil {
		opt.Sync = (*os.File).Sync
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	s := &Spool{dir: dir, opt: opt, log: opt.Log,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "spool", Name: "records_total",
			Help: "Records by what became of them: spooled (written while Kafka could not take them), drained (acknowledged by Kafka and removed), refused (the spool was full or failing: 503), corrupt (a torn or damaged frame skipped), rejected (Kafka refuses it for good: set aside under rejected/ and skipped).",
		}, []string{"result"}),
	}
	for _, r := range []string{"spooled", "drained", "refused", "corrupt", "rejected"} {
		s.results.WithLabelValues(r)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if opt.Registerer != nil {
		opt.Registerer.MustRegister(s.results,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "gateway", Subsystem: "spool", Name: "records",
				Help: "Records in the spool, waiting for Kafka."}, func() float64 { return float64(s.Records()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "gateway", Subsystem: "spool", Name: "bytes",
				Help: "Bytes in the spool not yet drained to Kafka."}, func() float64 { return float64(s.Bytes()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "gateway", Subsystem: "spool", Name: "oldest_age_seconds",
				Help: "Age of the oldest record waiting in the spool (0 when empty)."}, func() float64 { return s.OldestAge().Seconds() }),
		)
	}
	return s, nil
}

// load lists the segments, reads the position and scans the rest.
func (s *Spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(s.dir, name))
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 16, 64)
		if !strings.HasSuffix(name, segSuffix) || err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.segs = append(s.segs, &segment{id: id, size: info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpUint(a.id, b.id) })
	s.nextID = 1
	if n := len(s.segs); n > 0 {
		s.nextID = s.segs[n-1].id + 1
	}
	pos, err := s.readPosition()
	if err != nil {
		s.log.Warn("spool: position unreadable; draining from the oldest segment (records may reach Kafka twice)", "error", err)
	}
	s.nextID = max(s.nextID, pos.Seg)
	// Segments before the position were drained; a crash left them.
	for len(s.segs) > 0 && s.segs[0].id < pos.Seg {
		if err := os.Remove(s.segPath(s.segs[0].id)); err != nil {
			return fmt.Errorf("spool: remove drained segment: %w", err)
		}
		s.segs = s.segs[1:]
	}
	switch {
	case len(s.segs) == 0:
		pos = Pos{Seg: s.nextID}
	case s.segs[0].id != pos.Seg || pos.Off > s.segs[0].size:
		pos = Pos{Seg: s.segs[0].id}
	}
	s.pos = pos
	for _, sg := range s.segs {
		s.disk += sg.size
	}
	s.pending = s.disk - pos.Off
	// Count what is left (whole frames only; damage is reported when the
	// drain reaches it).
	for _, sg := range s.segs {
		from := int64(0)
		if sg.id == pos.Seg {
			from = pos.Off
		}
		if err := s.scan(sg, from); err != nil {
			return err
		}
	}
	if s.records > 0 {
		s.log.Info("spool: records left from before; draining them to Kafka", "records", s.records, "bytes", s.pending)
	}
	return nil
}

func (s *Spool) scan(sg *segment, from int64) error {
	f, err := os.Open(s.segPath(sg.id))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	fr := newFrameReader(f, from, sg.size)
	for {
		payload, err := fr.next()
		switch {
		case err == io.EOF, errors.Is(err, errTorn):
			return nil
		case err != nil:
			continue
		}
		if _, err := decode(payload); err != nil {
			continue
		}
		if s.records == 0 {
			s.oldest, _ = spooledAt(payload)
		}
		s.records++
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Spool) segPath(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", id, segSuffix))
}

// Append writes the records and makes them durable before it returns.
// It fails with ErrFull when they would take the spool past MaxBytes.
func (s *Spool) Append(recs ...kafkabus.Record) error {
	return s.AppendWithin(0, recs...)
}

// AppendWithin is Append for records that may take only part of the spool:
// it fails with ErrFull when they would take the spool past limit bytes
// (0: MaxBytes), leaving the rest to the records appended without a limit.
// A refusal for limit does not make the spool full.
func (s *Spool) AppendWithin(limit int64, recs ...kafkabus.Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now()
	var buf []byte
	for _, r := range recs {
		buf = appendFrame(buf, r, now)
	}
	if err := s.append(buf, len(recs), now, limit); err != nil {
		s.results.WithLabelValues("refused").Add(float64(len(recs)))
		return err
	}
	s.results.WithLabelValues("spooled").Add(float64(len(recs)))
	return nil
}

func (s *Spool) append(buf []byte, n int, now time.Time, limit int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if limit > 0 && limit < s.opt.MaxBytes && s.disk+int64(len(buf)) > limit {
		return fmt.Errorf("%w: %d of the %d bytes these records may use", ErrFull, s.disk, limit)
	}
	if s.disk+int64(len(buf)) > s.opt.MaxBytes {
		s.full = true
		return fmt.Errorf("%w: %d of %d bytes used", ErrFull, s.disk, s.opt.MaxBytes)
	}
	if s.w == nil || s.segs[len(s.segs)-1].size >= s.opt.SegmentBytes {
		if err := s.roll(); err != nil {
			return err
		}
	}
	sg := s.segs[len(s.segs)-1]
	_, err := s.w.Write(buf)
	if err == nil {
		err = s.opt.Sync(s.w)
	}
	if err != nil {
		// Cut the segment back to what was durable, and write the next
		// records to a new one (a file whose fsync failed is not trusted).
		terr := s.w.Truncate(sg.size)
		_ = s.w.Close()
		s.w = nil
		if terr != nil {
			return fmt.Errorf("spool: write: %w (and truncating back: %v)", err, terr)
		}
		return fmt.Errorf("spool: write: %w", err)
	}
	if s.pending == 0 {
		s.oldest = now
		s.log.Warn("spool: Kafka does not take records; spooling them to disk", "dir", s.dir)
	}
	sg.size += int64(len(buf))
	s.disk += int64(len(buf))
	s.pending += int64(len(buf))
	s.records += int64(n)
	return nil
}

// roll starts a new segment for appends (s.mu held).
func (s *Spool) roll() error {
	if s.w != nil {
		_ = s.w.Close()
		s.w = nil
	}
	id := s.nextID
	f, err := os.OpenFile(s.segPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	if err := s.syncDir(); err != nil {
		_ = f.Close()
		_ = os.Remove(s.segPath(id))
		return fmt.Errorf("spool: new segment: %w", err)
	}
	s.nextID++
	s.w = f
	s.segs = append(s.segs, &segment{id: id})
	if s.pending == 0 {
		s.pos = Pos{Seg: id}
	}
	return nil
}

func (s *Spool) syncDir() error { return syncDir(s.dir, s.opt.Sync) }

func syncDir(dir string, sync func(*os.File) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return sync(d)
}

// Batch is what Read returns: records to hand to Kafka, then to Ack.
type Batch struct {
	Records []kafkabus.Record
	next    Pos
	bytes   int64
	damaged []damage
}

type damage struct {
	seg   uint64
	off   int64
	bytes int64
	torn  bool
}

// Read returns up to maxRecords records (and about maxBytes) from the read
// position, skipping damaged frames. It does not move the position: Ack
// does.
func (s *Spool) Read(maxRecords int, maxBytes int64) (Batch, error) {
	s.mu.Lock()
	pos := s.pos
	segs := make([]segment, len(s.segs))
	for i, sg := range s.segs {
		segs[i] = *sg
	}
	s.mu.Unlock()

	var b Batch
	var size int64
	for i := 0; i < len(segs) && len(b.Records) < maxRecords && size < maxBytes; i++ {
		sg := segs[i]
		if sg.id < pos.Seg {
			continue
		}
		if sg.id > pos.Seg {
			pos = Pos{Seg: sg.id}
		}
		if pos.Off < sg.size {
			if err := s.readSegment(sg, &pos, &b, &size, maxRecords, maxBytes); err != nil {
				return Batch{}, err
			}
		}
		if pos.Off < sg.size {
			break // the batch is full
		}
	}
	b.next = pos
	return b, nil
}

func (s *Spool) readSegment(sg segment, pos *Pos, b *Batch, size *int64, maxRecords int, maxBytes int64) error {
	f, err := os.Open(s.segPath(sg.id))
	if err != nil {
		return fmt.Errorf("spool: read: %w", err)
	}
	defer f.Close()
	fr := newFrameReader(f, pos.Off, sg.size)
	for len(b.Records) < maxRecords && *size < maxBytes {
		start := fr.off
		payload, err := fr.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) {
			b.damaged = append(b.damaged, damage{seg: sg.id, off: start, bytes: sg.size - start, torn: true})
			b.bytes += sg.size - start
			pos.Off = sg.size
			break
		}
		var rec kafkabus.Record
		if err == nil {
			rec, err = decode(payload)
		}
		b.bytes += fr.off - start
		*size += fr.off - start
		pos.Off = fr.off
		if err != nil {
			b.damaged = append(b.damaged, damage{seg: sg.id, off: start, bytes: fr.off - start})
			continue
		}
		b.Records = append(b.Records, rec)
	}
	return nil
}

// Ack records that the batch's records are in Kafka: the position moves
// past them (persisted and fsynced) and drained segments are deleted.
func (s *Spool) Ack(b Batch) error { return s.ack(b, "drained") }

// RejectedDir is the folder under the spool's where records Kafka refused
// for good are kept, one file per record in the spool's frame format.
const RejectedDir = "rejected"

// Reject sets aside the records of b, which Kafka refuses for what they are
// (kafkabus.ErrRejected): they are written to a file of their own under
// RejectedDir (fsynced), then acknowledged like drained ones, so they no
// longer hold up the records behind them. It returns the file's path.
func (s *Spool) Reject(b Batch) (string, error) {
	dir := filepath.Join(s.dir, RejectedDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("spool: reject: %w", err)
	}
	now := time.Now()
	var buf []byte
	for _, r := range b.Records {
		buf = appendFrame(buf, r, now)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%016x-%d%s", now.UTC().Format("20060102T150405.000000000Z"), b.next.Seg, b.next.Off, segSuffix))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return "", fmt.Errorf("spool: reject: %w", err)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = s.opt.Sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir, s.opt.Sync)
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("spool: reject: %w", err)
	}
	return path, s.ack(b, "rejected")
}

func (s *Spool) ack(b Batch, result string) error {
	for _, d := range b.damaged {
		what := "spool: corrupt frame skipped (bad checksum or content)"
		if d.torn {
			what = "spool: torn or corrupt tail skipped (a write cut short, or a damaged length)"
		}
		s.log.Error(what, "segment", fmt.Sprintf("%016x", d.seg), "offset", d.off, "bytes", d.bytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.pos = b.next
	s.full = false
	s.records -= int64(len(b.Records))
	s.pending -= b.bytes
	drained := s.pending <= 0
	if drained {
		// Everything is in Kafka: start the next write on a fresh segment.
		if s.w != nil {
			_ = s.w.Close()
			s.w = nil
		}
		s.pos = Pos{Seg: s.nextID}
		s.records, s.pending = 0, 0
	}
	if err := s.writePosition(s.pos); err != nil {
		return err
	}
	for len(s.segs) > 0 && s.segs[0].id < s.pos.Seg {
		if err := os.Remove(s.segPath(s.segs[0].id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: remove drained segment: %w", err)
		}
		s.disk -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	s.oldest = time.Time{}
	if !drained {
		s.oldest = s.peekTime()
	}
	s.results.WithLabelValues(result).Add(float64(len(b.Records)))
	s.results.WithLabelValues("corrupt").Add(float64(len(b.damaged)))
	return nil
}

// peekTime reads when the record at the read position was spooled (s.mu
// held); now if it cannot be read.
func (s *Spool) peekTime() time.Time {
	for _, sg := range s.segs {
		if sg.id < s.pos.Seg || (sg.id == s.pos.Seg && s.pos.Off >= sg.size) {
			continue
		}
		off := int64(0)
		if sg.id == s.pos.Seg {
			off = s.pos.Off
		}
		f, err := os.Open(s.segPath(sg.id))
		if err != nil {
			break
		}
		var b [frameHeader + 8]byte
		_, err = f.ReadAt(b[:], off)
		f.Close()
		if t, ok := spooledAt(b[frameHeader:]); err == nil && ok {
			return t
		}
		break
	}
	return time.Now()
}

// The position file: segment id, offset, CRC32C of both.
func (s *Spool) writePosition(p Pos) error {
	var b [20]byte
	binary.BigEndian.PutUint64(b[0:], p.Seg)
	binary.BigEndian.PutUint64(b[8:], uint64(p.Off))
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	path := filepath.Join(s.dir, positionFile)
	f, err := os.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("spool: position: %w", err)
	}
	_, err = f.Write(b[:])
	if err == nil {
		err = s.opt.Sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err == nil {
		err = s.syncDir()
	}
	if err != nil {
		return fmt.Errorf("spool: position: %w", err)
	}
	return nil
}

func (s *Spool) readPosition() (Pos, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, positionFile))
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}, nil
	}
	if err != nil {
		return Pos{}, err
	}
	if len(b) != 20 || crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:]) {
		return Pos{}, errors.New("position file damaged")
	}
	return Pos{Seg: binary.BigEndian.Uint64(b[0:]), Off: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// Empty reports whether nothing waits in the spool.
func (s *Spool) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending <= 0
}

// Writable reports whether Append can take records: the spool is open, not
// full, and has not refused records for room since it last drained some.
func (s *Spool) Writable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && !s.full && s.disk < s.opt.MaxBytes
}

// Records is the number of records waiting.
func (s *Spool) Records() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// Bytes is the number of bytes waiting.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.pending, 0)
}

// OldestAge is how long the oldest waiting record has waited.
func (s *Spool) OldestAge() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending <= 0 || s.oldest.IsZero() {
		return 0
	}
	return time.Since(s.oldest)
}

// Close closes the segment being written; what is spooled stays on disk
// for the next start.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.w != nil {
		err := s.w.Close()
		s.w = nil
		return err
	}
	return nil
}

// ReadRejected returns the records of a file Reject wrote, in order. A
// damaged frame is an error: nothing of a damaged file is returned.
func ReadRejected(path string) ([]kafkabus.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []kafkabus.Record
	fr := newFrameReader(f, 0, info.Size())
	for {
		payload, err := fr.next()
		if err == io.EOF {
			return out, nil
		}
		var rec kafkabus.Record
		if err == nil {
			rec, err = decode(payload)
		}
		if err != nil {
			return nil, fmt.Errorf("spool: %s: frame at %d: %w", path, fr.off, err)
		}
		out = append(out, rec)
	}
}
