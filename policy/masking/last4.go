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
	if out, ok := appendLast4ASCII(dst, value); ok {
		return out
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

// last4Separators marks the ASCII bytes isLast4Separator accepts.
var last4Separators = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = isLast4Separator(rune(c))
	}
	return t
}()

// appendLast4ASCII is appendLast4 for ASCII values, one byte a character;
// ok is false (and dst unchanged) when value is not ASCII. A value without
// separators, the common case, is written as stars and its tail.
func appendLast4ASCII(dst, value []byte) (out []byte, ok bool) {
	n := 0
	for _, c := range value {
		if c >= utf8.RuneSelf {
			return dst, false
		}
		if !last4Separators[c] {
			n++
		}
	}
	hide := n
	if n >= last4MinLen {
		hide = n - last4Shown
	}
	if n == len(value) {
		dst = appendStars(dst, hide)
		return append(dst, value[hide:]...), true
	}
	start := len(dst)
	dst = append(dst, value...)
	for i := start; hide > 0 && i < len(dst); i++ {
		if !last4Separators[dst[i]] {
			dst[i] = '*'
			hide--
		}
	}
	return dst, true
}

const stars = "****************************************************************"

// appendStars appends n '*'.
func appendStars(dst []byte, n int) []byte {
	for n > len(stars) {
		dst = append(dst, stars...)
		n -= len(stars)
	}
	return append(dst, stars[:n]...)
}
