package masking

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Detector names a content detector, as written in a masking policy's
// detectors.
type Detector string

// The content detectors; the package documentation describes each.
const (
	DetectorEmail        Detector = "email"
	DetectorCreditCard   Detector = "credit_card"
	DetectorUSSSN        Detector = "us_ssn"
	DetectorIBAN         Detector = "iban"
	DetectorAWSAccessKey Detector = "aws_access_key"
	DetectorJWT          Detector = "jwt"
)

// ErrUnknownDetector is returned for a detector name this package does not know.
var ErrUnknownDetector = errors.New("unknown detector")

// Detectors returns every content detector, in documentation order.
func Detectors() []Detector {
	return []Detector{DetectorEmail, DetectorCreditCard, DetectorUSSSN, DetectorIBAN, DetectorAWSAccessKey, DetectorJWT}
}

// ParseDetector returns the detector named s, or an error wrapping
// ErrUnknownDetector.
func ParseDetector(s string) (Detector, error) {
	d := Detector(s)
	if !slices.Contains(Detectors(), d) {
		return "", fmt.Errorf("masking: %w %q", ErrUnknownDetector, s)
	}
	return d, nil
}

// Match is a value found by a detector: text[Start:End].
type Match struct {
	Detector   Detector
	Start, End int // byte offsets, Start < End
}

// Detect returns what the detectors ds find in text, ordered by Start and
// never overlapping: where two finds overlap, the one starting first (or, at
// the same start, the longer) is kept. Detectors ds names twice run once;
// names this package does not know find nothing (check configuration with
// ParseDetector). Detect allocates only when it finds something.
func Detect(ds []Detector, text []byte) []Match {
	ms := scanAll(ds, text)
	kept := ms[:0]
	for _, m := range ms {
		if len(kept) == 0 || m.Start >= kept[len(kept)-1].End {
			kept = append(kept, m)
		}
	}
	return kept
}

// scanAll returns every find of ds in text, overlaps included, ordered by
// Start and then longest first.
func scanAll(ds []Detector, text []byte) []Match {
	var ms []Match
	var digits digitKinds // card numbers and SSNs share digit runs: one pass
	for i, d := range ds {
		if slices.Contains(ds[:i], d) {
			continue
		}
		switch d {
		case DetectorEmail:
			ms = scanEmail(text, ms)
		case DetectorCreditCard:
			digits.card = true
		case DetectorUSSSN:
			digits.ssn = true
		case DetectorIBAN:
			ms = scanIBAN(text, ms)
		case DetectorAWSAccessKey:
			ms = scanAWSAccessKey(text, ms)
		case DetectorJWT:
			ms = scanJWT(text, ms)
		}
	}
	if digits.card || digits.ssn {
		ms = scanDigitRuns(text, digits, ms)
	}
	slices.SortFunc(ms, func(a, b Match) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(b.End, a.End), cmp.Compare(a.Detector, b.Detector))
	})
	return ms
}

// maxRedactPasses bounds Redact's passes; text still holding a find after
// that many is replaced whole.
const maxRedactPasses = 8

// Redact returns text with every find of ds replaced: an email address by the
// email mask (a***@example.com), anything else by "****". Finds that overlap
// are replaced together by one "****". Replacing can join what remains into
// something a detector flags (text around a replaced value); Redact scans its
// output again until nothing is found, and after maxRedactPasses passes
// returns "****" for the whole text. With nothing found, Redact returns text
// itself without copying.
func Redact(ds []Detector, text []byte) []byte {
	out := text
	for pass := 0; ; pass++ {
		ms := scanAll(ds, out)
		if len(ms) == 0 {
			return out
		}
		if pass == maxRedactPasses {
			return []byte(redacted)
		}
		out = replaceFinds(out, ms)
	}
}

// replaceFinds returns a copy of text with each group of overlapping finds
// replaced by its mask.
func replaceFinds(text []byte, ms []Match) []byte {
	out := make([]byte, 0, len(text))
	last := 0
	for i := 0; i < len(ms); {
		start, end, j := ms[i].Start, ms[i].End, i+1
		for ; j < len(ms) && ms[j].Start < end; j++ {
			end = max(end, ms[j].End)
		}
		out = append(out, text[last:start]...)
		if j == i+1 && ms[i].Detector == DetectorEmail {
			out = appendEmailMask(out, text[start:end])
		} else {
			out = append(out, redacted...)
		}
		last, i = end, j
	}
	return append(out, text[last:]...)
}

// Byte classes shared by the detectors. Only ASCII letters and digits are
// word characters: any other byte, including those of non-ASCII UTF-8
// characters, may border a find.
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isUpper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isLetter(c byte) bool { return isUpper(c) || 'a' <= c && c <= 'z' }
func isAlnum(c byte) bool  { return isDigit(c) || isLetter(c) }
func isWord(c byte) bool   { return isAlnum(c) || c == '_' }
