package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core/kafkabus"
)

// A frame is one record on disk:
//
//	uint32 length of the payload (big endian)
//	uint32 CRC32C (Castagnoli) of the payload
//	payload:
//	  int64   spooled at, Unix nanoseconds
//	  varint  partition, -1 when the key decides
//	  bytes   topic
//	  nbytes  key
//	  uvarint number of headers, then per header: bytes key, nbytes value
//	  nbytes  value
//
// where bytes is a uvarint length and the bytes, and nbytes is a uvarint
// length plus one (0 for nil: Kafka tells a nil key from an empty one).
const frameHeader = 8

// maxPayload bounds a frame's length field: a larger one is corruption.
const maxPayload = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errTorn is a frame cut short (a write cut by a crash) or a length that
	// cannot be: nothing after it in the segment can be found again.
	errTorn = errors.New("torn or corrupt frame")
	// errCorrupt is a whole frame whose checksum or content is wrong: the
	// next frame starts after it.
	errCorrupt = errors.New("corrupt frame")
)

// appendFrame appends rec's frame to buf.
func appendFrame(buf []byte, rec kafkabus.Record, at time.Time) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeader)...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(at.UnixNano()))
	part := int64(-1)
	if rec.PartitionSet && rec.Partition >= 0 {
		part = int64(rec.Partition)
	}
	buf = binary.AppendVarint(buf, part)
	buf = appendBytes(buf, []byte(rec.Topic))
	buf = appendNBytes(buf, rec.Key)
	buf = binary.AppendUvarint(buf, uint64(len(rec.Headers)))
	for _, h := range rec.Headers {
		buf = appendBytes(buf, []byte(h.Key))
		buf = appendNBytes(buf, h.Value)
	}
	buf = appendNBytes(buf, rec.Value)
	payload := buf[start+frameHeader:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

func appendBytes(buf, b []byte) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(b))), b...)
}

func appendNBytes(buf, b []byte) []byte {
	if b == nil {
		return binary.AppendUvarint(buf, 0)
	}
	return append(binary.AppendUvarint(buf, uint64(len(b))+1), b...)
}

// frameReader reads frames in order from one segment, up to end.
type frameReader struct {
	r   *bufio.Reader
	off int64 // where the next frame starts
	end int64
	hdr [frameHeader]byte
}

func newFrameReader(f io.ReaderAt, off, end int64) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(io.NewSectionReader(f, off, end-off), 256<<10), off: off, end: end}
}

// next returns the payload of the frame at fr.off and moves past it. On
// errTorn the reader is done; on errCorrupt it has moved past the frame.
func (fr *frameReader) next() ([]byte, error) {
	if fr.off >= fr.end {
		return nil, io.EOF
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return nil, errTorn
	}
	n := int64(binary.BigEndian.Uint32(fr.hdr[:4]))
	if n > maxPayload || n > fr.end-fr.off-frameHeader {
		return nil, errTorn
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(fr.r, payload); err != nil {
		return nil, errTorn
	}
	fr.off += frameHeader + n
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(fr.hdr[4:]) {
		return nil, errCorrupt
	}
	return payload, nil
}

// spooledAt reads the time a payload was spooled.
func spooledAt(payload []byte) (time.Time, bool) {
	if len(payload) < 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(payload))), true
}

// decode turns a payload back into a record. The record keeps slices of
// payload.
func decode(payload []byte) (kafkabus.Record, error) {
	d := decoder{b: payload}
	d.take(8)
	var rec kafkabus.Record
	if part := d.varint(); part >= 0 {
		rec.Partition, rec.PartitionSet = int(part), true
	}
	rec.Topic = string(d.bytes())
	rec.Key = d.nbytes()
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
		rec.Headers = make([]kafka.Header, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			rec.Headers = append(rec.Headers, kafka.Header{Key: string(d.bytes()), Value: d.nbytes()})
		}
	} else if n > 0 {
		d.err = errCorrupt
	}
	rec.Value = d.nbytes()
	if d.err != nil || len(d.b) != 0 || rec.Topic == "" {
		return kafkabus.Record{}, errCorrupt
	}
	return rec, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte { return d.take(d.uvarint()) }

func (d *decoder) nbytes() []byte {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	return d.take(n - 1)
}
