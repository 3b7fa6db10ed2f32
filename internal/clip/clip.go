// Package clip bounds the client-supplied text that gatehouse records.
// Every event is kept (and, with S3, locked) for the retention period, so
// a client that could make one event as large as it liked could fill the
// spool and, with recording.fail_closed, shut every other client out.
// A clipped value says so and keeps its original length, so the record
// still shows that something large was sent.
package clip

import (
	"strconv"
	"unicode/utf8"
)

// Caps, in bytes of the value kept (the marker comes on top).
const (
	// NameMax bounds names: an SSH user name, a client version, a target,
	// host or origin of a channel, a database, user or application name
	// of a PostgreSQL startup, a requested principal. Real ones are far
	// shorter (PostgreSQL's NAMEDATALEN is 64, RFC 4253 §4.2 allows a
	// 255-byte version line).
	NameMax = 256
	// DetailMax bounds longer free text: a command a client tried to run,
	// a socket path, an error message that quotes the client.
	DetailMax = 1024
	// ListMax bounds how many client-supplied values of one list (the
	// grants a certificate request asks for) are recorded.
	ListMax = 32
)

// String returns s if it is at most max bytes long; otherwise its first
// max bytes (cut back to a whole UTF-8 character) followed by a marker
// with the original length, e.g. "aaaa…[clipped from 204800 bytes]".
func String(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return Cut(s, max) + "…[clipped from " + strconv.Itoa(len(s)) + " bytes]"
}

// Cut returns s cut to at most max bytes, back to a whole UTF-8
// character, with no marker: for a caller that records the whole value's
// length and hash beside it.
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && cut > max-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Name clips a name to NameMax.
func Name(s string) string { return String(s, NameMax) }

// Detail clips free text to DetailMax.
func Detail(s string) string { return String(s, DetailMax) }

// Names clips each name and keeps at most ListMax of them; when there
// were more, the last kept entry says how many were left out. A nil or
// short list that needs no clipping is returned as it is.
func Names(list []string) []string {
	if len(list) <= ListMax && !anyLonger(list, NameMax) {
		return list
	}
	n := min(len(list), ListMax)
	out := make([]string, 0, n+1)
	for _, s := range list[:n] {
		out = append(out, Name(s))
	}
	if len(list) > n {
		out = append(out, "…["+strconv.Itoa(len(list)-n)+" more clipped]")
	}
	return out
}

func anyLonger(list []string, max int) bool {
	for _, s := range list {
		if len(s) > max {
			return true
		}
	}
	return false
}
