package masking

import "unicode/utf8"

// last4Shown is how many trailing characters last4 keeps, and last4MinLen
// the fewest characters a value needs for any to be kept: at least as many
// characters stay hidden as are shown, so a short value is never shown whole
// or mostly.
const (
	last4Shown  = 4
	last4MinLen = 2 * last4Shown
)

// isLast4Separator reports the characters last4 copies in place and does not
// count: those that punctuate card, account and phone numbers.
func isLast4Separator(r rune) bool {
	switch r {
	case ' ', '-', '.', '/', '(', ')', '+':
		return true
	}
	return false
}

// appendLast4 appends value with every character but the last four replaced
// by '*'. Characters are UTF-8 runes; an invalid byte counts as one.
func appendLast4(dst, value []byte) []byte {
	if ascii(value) {
		return appendLast4ASCII(dst, value)
	}
	return appendLast4Runes(dst, value)
}

// appendLast4Runes is appendLast4 for any value, rune by rune.
func appendLast4Runes(dst, value []byte) []byte {
	n := 0
	for i := 0; i < len(value); {
		r, size := utf8.DecodeRune(value[i:])
		if !isLast4Separator(r) {
			n++
		}
		i += size
	}
	hide := n
	if n >= last4MinLen {
		hide = n - last4Shown
	}
	for i := 0; i < len(value); {
		r, size := utf8.DecodeRune(value[i:])
		switch {
		case isLast4Separator(r):
			dst = append(dst, byte(r))
		case hide > 0:
			dst = append(dst, '*')
			hide--
		default:
			dst = append(dst, value[i:i+size]...)
		}
		i += size
	}
	return dst
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendLast4ASCII is appendLast4 for ASCII values, one byte a character.
func appendLast4ASCII(dst, value []byte) []byte {
	n := 0
	for _, c := range value {
		if !isLast4Separator(rune(c)) {
			n++
		}
	}
	hide := n
	if n >= last4MinLen {
		hide = n - last4Shown
	}
	for _, c := range value {
		switch {
		case isLast4Separator(rune(c)):
			dst = append(dst, c)
		case hide > 0:
			dst = append(dst, '*')
			hide--
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
