package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record is one entry of the journal: a line of a stream, or a mark that a
// stream's own file is durable through an offset.
type Record struct {
	Kind, Stream string // the stream's kind and id, as in the file store
	// Offset is where Line starts in the stream's file; for a Durable
	// record, the offset through which the file is durable.
	Offset int64
	// Line is the stream's line without its newline: the file holds
	// Line + "\n" at Offset. Empty for a Durable record.
	Line []byte
	// Durable says the stream's file was made durable through Offset, so
	// that its earlier lines need the journal no more.
	Durable bool
}

// A frame is a header and a payload:
//
//	length   uint32 LE: the payload's length
//	lenCRC   uint32 LE: CRC-32C of the 4 length bytes
//	bodyCRC  uint32 LE: CRC-32C of the payload
//	payload  type byte, uvarint len + kind, uvarint len + stream,
//	         uvarint offset, line (the rest)
//
// The length has a CRC of its own so that a corrupted length is told
// apart from a record cut short: only a record whose length is known to be
// right can be measured against what follows it. Segments are zero-filled
// before use, so an all-zero header is the end of the records.
const headerSize = 12

const (
	typeLine    byte = 1
	typeDurable byte = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends r's frame to buf.
func appendFrame(buf []byte, r Record) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	typ := typeLine
	if r.Durable {
		typ = typeDurable
	}
	buf = append(buf, typ)
	buf = binary.AppendUvarint(buf, uint64(len(r.Kind)))
	buf = append(buf, r.Kind...)
	buf = binary.AppendUvarint(buf, uint64(len(r.Stream)))
	buf = append(buf, r.Stream...)
	buf = binary.AppendUvarint(buf, uint64(r.Offset))
	buf = append(buf, r.Line...)
	hdr, payload := buf[start:start+headerSize], buf[start+headerSize:]
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:8], crc32.Checksum(hdr[0:4], castagnoli))
	binary.LittleEndian.PutUint32(hdr[8:12], crc32.Checksum(payload, castagnoli))
	return buf
}

// frameSize is the size of r's frame.
func frameSize(r Record) int64 {
	n := headerSize + 1 + 3*binary.MaxVarintLen64 + len(r.Kind) + len(r.Stream) + len(r.Line)
	return int64(n)
}

// errMalformed is a payload whose CRC matched but which does not decode:
// a writer's bug, never a crash's damage.
var errMalformed = errors.New("malformed record")

// decodePayload reads a payload whose CRC matched. The line aliases p.
func decodePayload(p []byte) (Record, error) {
	if len(p) == 0 {
		return Record{}, errMalformed
	}
	var r Record
	switch p[0] {
	case typeLine:
	case typeDurable:
		r.Durable = true
	default:
		return Record{}, fmt.Errorf("%w: type %d", errMalformed, p[0])
	}
	rest := p[1:]
	var kind, stream []byte
	var ok bool
	if kind, rest, ok = cutString(rest); !ok {
		return Record{}, errMalformed
	}
	if stream, rest, ok = cutString(rest); !ok {
		return Record{}, errMalformed
	}
	off, n := binary.Uvarint(rest)
	if n <= 0 || off > 1<<62 {
		return Record{}, errMalformed
	}
	r.Kind, r.Stream, r.Offset, r.Line = string(kind), string(stream), int64(off), rest[n:]
	return r, nil
}

// cutString reads a uvarint length and that many bytes.
func cutString(p []byte) (s, rest []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, false
	}
	return p[k : k+int(n)], p[k+int(n):], true
}
