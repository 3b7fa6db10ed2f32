package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Segment is one segment file as Read found it.
type Segment struct {
	Path    string
	N       uint64   // its number, from its name
	Records []Record // every whole record, in order
	// End is where the records end; Torn is how many bytes after End
	// held a record cut short by a crash (0 when none).
	End, Torn int64
}

// CorruptError is damage a crash cannot explain: a record whose CRC does
// not match followed by more data, or data after the end of the records.
// What follows it is not read.
type CorruptError struct {
	Path   string
	Offset int64
	Why    string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal: segment %s is corrupt at offset %d: %s", e.Path, e.Offset, e.Why)
}

// Read returns the segments in dir numbered below before (0: all),
// oldest first, each with its whole records. A segment's torn tail (its
// last record, cut short by a crash) is left out, never misread. Damage a
// crash cannot explain ends the reading of its segment with a
// *CorruptError (its records before the damage are returned); the later
// segments are still read, and the errors joined.
func Read(dir string, before uint64) ([]Segment, error) {
	names, err := segmentNames(dir)
	if err != nil {
		return nil, err
	}
	var segs []Segment
	var errs []error
	for _, n := range names {
		if before != 0 && n >= before {
			break
		}
		path := filepath.Join(dir, segmentName(n))
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("journal: read %s: %w", path, err))
			continue
		}
		seg, err := parseSegment(path, data)
		seg.N = n
		segs = append(segs, seg)
		errs = append(errs, err)
	}
	return segs, errors.Join(errs...)
}

// Remove deletes segments read by Read, once every stream they hold is
// durable in its own file.
func Remove(segs []Segment) error {
	dirs := map[string]bool{}
	for _, s := range segs {
		if err := os.Remove(s.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("journal: remove %s: %w", s.Path, err)
		}
		dirs[filepath.Dir(s.Path)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// segmentNames lists the numbers of dir's segments in order; a missing
// dir has none.
func segmentNames(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: list %s: %w", dir, err)
	}
	var ns []uint64
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.ParseUint(base, 10, 64)
		if err != nil {
			continue
		}
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	return ns, nil
}

const segmentSuffix = ".seg"

func segmentName(n uint64) string { return fmt.Sprintf("%010d%s", n, segmentSuffix) }

// parseSegment reads the records of one segment's bytes.
func parseSegment(path string, data []byte) (Segment, error) {
	seg := Segment{Path: path}
	off := int64(0)
	for {
		r, size, tail, err := parseFrame(data[off:])
		switch {
		case err != nil:
			seg.End = off
			return seg, &CorruptError{Path: path, Offset: off, Why: err.Error()}
		case size == 0:
			seg.End, seg.Torn = off, tail
			return seg, nil
		}
		seg.Records = append(seg.Records, r)
		off += size
	}
}

// parseFrame reads the frame at the start of p: its record and size, or
// size 0 at the end of the records, with tail the bytes of a torn last
// record (0 for a clean end).
func parseFrame(p []byte) (r Record, size, tail int64, err error) {
	if len(p) < headerSize || allZero(p[:headerSize]) {
		if !allZero(p) && len(p) >= headerSize {
			return Record{}, 0, 0, errors.New("data after the end of the records")
		}
		return Record{}, 0, nonZeroExtent(p), nil // a header cut short, or the end
	}
	n := binary.LittleEndian.Uint32(p[0:4])
	if crc32.Checksum(p[0:4], castagnoli) != binary.LittleEndian.Uint32(p[4:8]) {
		return tornOr(p, headerSize, "the length's CRC does not match")
	}
	end := headerSize + int64(n)
	if end > int64(len(p)) {
		return Record{}, 0, int64(len(p)), nil // the file ends inside the record
	}
	if crc32.Checksum(p[headerSize:end], castagnoli) != binary.LittleEndian.Uint32(p[8:12]) {
		return tornOr(p, end, "the record's CRC does not match")
	}
	r, err = decodePayload(p[headerSize:end])
	if err != nil {
		return Record{}, 0, 0, err
	}
	return r, end, 0, nil
}

// tornOr says a bad frame is a torn tail when nothing was written after
// where it ends (segments are zero-filled), and corruption otherwise.
func tornOr(p []byte, end int64, why string) (Record, int64, int64, error) {
	if !allZero(p[end:]) {
		return Record{}, 0, 0, errors.New(why)
	}
	return Record{}, 0, nonZeroExtent(p), nil
}

func allZero(p []byte) bool { return len(bytes.TrimLeft(p, "\x00")) == 0 }

// nonZeroExtent is how far p holds anything but zeros.
func nonZeroExtent(p []byte) int64 { return int64(len(bytes.TrimRight(p, "\x00"))) }
