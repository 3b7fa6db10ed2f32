package journal

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseSegment: whatever a segment holds, reading it never panics,
// and what it returns is what a writer wrote: the records read encode
// back to exactly the bytes before End.
func FuzzParseSegment(f *testing.F) {
	whole := appendFrame(appendFrame(nil, line(1)), Record{Kind: "ca", Stream: "c", Offset: 7, Durable: true})
	f.Add(whole)
	f.Add(append(append([]byte(nil), whole...), make([]byte, 64)...))
	f.Add(whole[:len(whole)-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		seg, err := parseSegment("seg", data)
		var ce *CorruptError
		if err != nil && !errors.As(err, &ce) {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v is neither corruption nor a malformed record", err)
			}
		}
		var again []byte
		for _, r := range seg.Records {
			again = appendFrame(again, r)
		}
		if !bytes.Equal(again, data[:seg.End]) {
			t.Fatalf("records read do not encode back to the %d bytes before End", seg.End)
		}
		if err == nil && !allZero(data[seg.End+seg.Torn:]) {
			t.Fatal("bytes after a torn tail were ignored without an error")
		}
	})
}
