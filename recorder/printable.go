package recorder

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CSVCell makes text safe for a spreadsheet: controls visible
// (Printable), and a cell that a spreadsheet would take for a formula (it
// starts with =, +, -, @, a tab or a carriage return) prefixed with an
// apostrophe, which shows it as text (OWASP, CSV injection). The console's
// exports and the evidence bundle write every text cell through it.
func CSVCell(s string) string {
	s = Printable(s)
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Printable makes text from a recording safe to print on an auditor's
// terminal. Nearly everything a recording holds was chosen by the client
// (statement texts, host names, the SSH version string, certificate
// identities), and a terminal obeys what it is sent: an escape sequence
// can erase the line that says DENY and print one that says ALLOW, a
// carriage return or a line break can forge a line of its own, and a
// bidirectional override can make a statement read backwards. So every
// character that is not visible text is shown as an escape instead:
//
//   - \t, \n, \r, and other C0 controls and DEL as \xNN;
//   - C1 controls, format characters (bidirectional marks, embeddings,
//     overrides and isolates, zero-width characters, the byte-order mark,
//     tags), line and paragraph separators, spaces other than the ASCII
//     space, private-use and unassigned code points as \uXXXX or
//     \UXXXXXXXX;
//   - the Hangul fillers, which are letters but show nothing, likewise;
//   - each byte of invalid UTF-8 as \xNN, and U+FFFD itself as \ufffd,
//     so that the two are told apart.
//
// Everything else, the backslash included, is shown as it is. Every
// human-readable output of recordings (replay, sessions, verify) goes
// through it.
func Printable(s string) string {
	i := strings.IndexFunc(s, needsEscape)
	if i < 0 {
		return s // the common case: plain text, no copy
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for rest := s[i:]; rest != ""; {
		r, size := utf8.DecodeRuneInString(rest)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, rest[0])
		case r < utf8.RuneSelf && needsEscape(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteString(rest[:size])
		}
		rest = rest[size:]
	}
	return b.String()
}

// needsEscape says whether a character is not visible text. IndexFunc
// hands it utf8.RuneError for invalid UTF-8, which Printable then
// escapes byte by byte.
func needsEscape(r rune) bool {
	return r == utf8.RuneError || !unicode.IsPrint(r) || invisibleLetters[r]
}

// invisibleLetters are letters that render as blank space: the Hangul
// fillers, used to make names look empty or identical.
var invisibleLetters = map[rune]bool{0x115f: true, 0x1160: true, 0x3164: true, 0xffa0: true}
