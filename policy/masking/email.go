package masking

import (
	"bytes"
	"encoding/binary"
	"unicode"
	"unicode/utf8"
)

// Limits of RFC 5321 §4.5.3.1 and RFC 1035 §2.3.4.
const (
	maxLocalPart = 64
	maxDomain    = 253
	maxLabel     = 63
)

// appendEmailMask appends value masked as an email address: the first
// character of the local part, "***", '@' and the domain unchanged. A value
// that is not an email address (emailParts) is redacted.
func appendEmailMask(dst, value []byte) []byte {
	local, domain, ok := emailParts(value)
	if !ok {
		return append(dst, redacted...)
	}
	_, size := utf8.DecodeRune(local)
	dst = append(dst, local[:size]...)
	dst = append(dst, "***@"...)
	return append(dst, domain...)
}

// emailParts splits a column value that is an email address: after trailing
// spaces (bpchar padding) are dropped, exactly one '@' between a local part of
// 1 to 64 bytes of valid UTF-8 with no space or control character, and a
// domain that validDomain accepts with internationalized labels.
func emailParts(value []byte) (local, domain []byte, ok bool) {
	if local, domain, ok, ascii := emailPartsASCII(value); ascii {
		return local, domain, ok
	}
	return emailPartsAny(value)
}

// emailPartsAny is emailParts for any value.
func emailPartsAny(value []byte) (local, domain []byte, ok bool) {
	v := bytes.TrimRight(value, " ")
	at := bytes.IndexByte(v, '@')
	if at < 0 || bytes.IndexByte(v[at+1:], '@') >= 0 {
		return nil, nil, false
	}
	local, domain = v[:at], v[at+1:]
	if len(local) == 0 || len(local) > maxLocalPart || !validLocal(local) {
		return nil, nil, false
	}
	if !validDomain(domain, true) {
		return nil, nil, false
	}
	return local, domain, true
}

// validLocal: valid UTF-8 with no space or control character. ASCII, the
// common case, is checked byte by byte (masking runs once per row).
func validLocal(local []byte) bool {
	for _, c := range local {
		if c >= utf8.RuneSelf {
			return utf8.Valid(local) &&
				bytes.IndexFunc(local, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
		}
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// validDomain reports whether d is a host name of at least two labels: each
// label 1 to 63 bytes of letters, digits and inner hyphens (RFC 1123 §2.1),
// where letters and digits may be any Unicode letter, digit or mark if
// unicodeOK; the whole at most 253 bytes; the last label (the top-level
// domain) letters only and at least two of them, or an "xn--" A-label.
func validDomain(d []byte, unicodeOK bool) bool {
	if len(d) == 0 || len(d) > maxDomain {
		return false
	}
	labels := 0
	var last []byte
	for start := 0; start <= len(d); labels++ {
		end := bytes.IndexByte(d[start:], '.')
		if end < 0 {
			end = len(d)
		} else {
			end += start
		}
		last = d[start:end]
		if !validLabel(last, unicodeOK) {
			return false
		}
		start = end + 1
	}
	return labels >= 2 && d[len(d)-1] != '.' && validTLD(last, unicodeOK)
}

func validLabel(l []byte, unicodeOK bool) bool {
	if len(l) == 0 || len(l) > maxLabel || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); {
		if c := l[i]; c < utf8.RuneSelf {
			if !isAlnum(c) && c != '-' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(l[i:])
		i += size
		switch {
		case unicodeOK && r >= utf8.RuneSelf && r != utf8.RuneError &&
			(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
		default:
			return false
		}
	}
	return true
}

func validTLD(l []byte, unicodeOK bool) bool {
	if len(l) > 4 && bytes.EqualFold(l[:4], []byte("xn--")) {
		return true
	}
	n := 0
	for i := 0; i < len(l); n++ {
		if c := l[i]; c < utf8.RuneSelf {
			if !isLetter(c) {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(l[i:])
		i += size
		if !(r < utf8.RuneSelf && isLetter(byte(r))) && !(unicodeOK && r >= utf8.RuneSelf && unicode.IsLetter(r)) {
			return false
		}
	}
	return n >= 2
}

// fileExtensions are endings that follow '@' in file names ("logo@2x.png")
// and are not top-level domains, so the email detector does not flag them.
var fileExtensions = []string{
	"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "heic",
	"css", "js", "mjs", "ts", "json", "html", "htm", "txt", "pdf", "csv", "yaml", "yml",
}

// isLocalChar reports the bytes the email detector accepts in a local part:
// the common subset of RFC 5322 atext. '*' is not one of them, so a masked
// address ("a***@example.com") is never detected again.
func isLocalChar(c byte) bool {
	switch c {
	case '.', '_', '%', '+', '-':
		return true
	}
	return isAlnum(c)
}

func isLabelChar(c byte) bool { return isAlnum(c) || c == '-' }

// scanEmail appends the email addresses in text to ms.
func scanEmail(text []byte, ms []Match) []Match {
	for i := 0; ; {
		k := bytes.IndexByte(text[i:], '@')
		if k < 0 {
			return ms
		}
		at := i + k
		if s, e, ok := emailAround(text, at); ok {
			ms = append(ms, Match{Detector: DetectorEmail, Start: s, End: e})
		}
		i = at + 1
	}
}

// emailAround finds the address around the '@' at text[at]: the local part
// is the run of local characters before it, cut after its last ".." and
// without leading dots (sentence punctuation), 1 to 64 bytes with a letter or
// digit and not ending in a dot; the domain is the longest run of labels
// joined by single dots after it, without trailing hyphens, valid by
// validDomain (ASCII only) and not ending in a file extension.
func emailAround(text []byte, at int) (start, end int, ok bool) {
	s := at
	for s > 0 && isLocalChar(text[s-1]) {
		s--
	}
	if k := bytes.LastIndex(text[s:at], []byte("..")); k >= 0 {
		s += k + 2
	}
	for s < at && text[s] == '.' {
		s++
	}
	if s == at || at-s > maxLocalPart || text[at-1] == '.' || !hasAlnum(text[s:at]) {
		return 0, 0, false
	}
	e := at + 1
	for {
		for e < len(text) && isLabelChar(text[e]) {
			e++
		}
		if e+1 < len(text) && text[e] == '.' && isLabelChar(text[e+1]) {
			e++
			continue
		}
		break
	}
	for e > at+1 && text[e-1] == '-' {
		e--
	}
	domain := text[at+1 : e]
	if !validDomain(domain, false) {
		return 0, 0, false
	}
	tld := domain[bytes.LastIndexByte(domain, '.')+1:]
	for _, ext := range fileExtensions {
		if bytes.EqualFold(tld, []byte(ext)) {
			return 0, 0, false
		}
	}
	return s, e, true
}

func hasAlnum(b []byte) bool {
	for _, c := range b {
		if isAlnum(c) {
			return true
		}
	}
	return false
}

// domainBytes classes the ASCII bytes of a domain: 0 for a byte no label
// may hold.
const (
	domainOther = iota
	domainDot
	domainLetter
	domainDigitOrHyphen
)

var domainBytes = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		switch {
		case c == '.':
			t[c] = domainDot
		case isLetter(byte(c)):
			t[c] = domainLetter
		case isLabelChar(byte(c)):
			t[c] = domainDigitOrHyphen
		}
	}
	return t
}()

// emailPartsASCII is emailParts for an ASCII value, the common case
// (masking runs once per row), with one pass over the domain; ascii is
// false, and nothing decided, for any other value.
func emailPartsASCII(value []byte) (local, domain []byte, ok, ascii bool) {
	end := len(value)
	for end > 0 && value[end-1] == ' ' {
		end--
	}
	v := value[:end]
	if !isASCII(v) {
		return nil, nil, false, false
	}
	at := bytes.IndexByte(v, '@')
	if at < 1 || at > maxLocalPart || bytes.IndexByte(v[at+1:], '@') >= 0 {
		return nil, nil, false, true
	}
	for _, c := range v[:at] {
		if c <= ' ' || c == 0x7f {
			return nil, nil, false, true
		}
	}
	local, domain = v[:at], v[at+1:]
	return local, domain, validDomainASCII(domain), true
}

// isASCII reports whether b is all ASCII, eight bytes at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// validDomainASCII is validDomain for an ASCII domain, in one pass.
func validDomainASCII(d []byte) bool {
	if len(d) == 0 || len(d) > maxDomain || d[len(d)-1] == '.' {
		return false
	}
	labels, start, letters := 0, 0, true // letters: the label so far is letters only
	for i, c := range d {
		switch domainBytes[c] {
		case domainOther:
			return false
		case domainDigitOrHyphen:
			letters = false
		case domainDot:
			if !validLabelASCII(d[start:i]) {
				return false
			}
			labels, start, letters = labels+1, i+1, true
		}
	}
	tld := d[start:]
	if !validLabelASCII(tld) || labels < 1 {
		return false
	}
	return letters && len(tld) >= 2 || len(tld) > 4 && bytes.EqualFold(tld[:4], []byte("xn--"))
}

// validLabelASCII checks a label's length and ends; its bytes are label
// characters.
func validLabelASCII(l []byte) bool {
	return len(l) > 0 && len(l) <= maxLabel && l[0] != '-' && l[len(l)-1] != '-'
}
