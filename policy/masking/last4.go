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
