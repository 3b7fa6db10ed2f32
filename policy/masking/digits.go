package masking

import (
	"bytes"
	"slices"
)

// Card numbers and social security numbers are found in digit runs: maximal
// runs of ASCII digits joined by single spaces or dashes. A run is judged
// whole; if it is neither and holds spaces, each space-separated word is
// judged alone, and the words between two finds are judged again together,
// as they would be once the finds are replaced. So "4111 1111 1111 1111" is
// one card number, "4111111111111111 5500005555555559" two,
// "4111 1111 1111 1111 123-45-6789" a card number and a social security
// number, and "4111 1111 1111 1111 1111" nothing.

// Shortest digit runs that can hold a find: 13 digits for a card number,
// AAA-GG-SSSS for a social security number.
const (
	minCardRun = 13
	minSSNRun  = 11
)

// digitKinds are the detectors looking at digit runs.
type digitKinds struct{ card, ssn bool }

// judge returns the detector that flags text[s:e], or "".
func (k digitKinds) judge(text []byte, s, e int) Detector {
	switch {
	case !numBorderOK(text, s, e):
	case k.card && validCard(text[s:e]):
		return DetectorCreditCard
	case k.ssn && validSSN(text[s:e]):
		return DetectorUSSSN
	}
	return ""
}

func (k digitKinds) minRun() int {
	if k.ssn {
		return minSSNRun
	}
	return minCardRun
}

// scanDigitRuns appends to ms the card numbers and social security numbers
// that k looks for in the digit runs of text.
func scanDigitRuns(text []byte, k digitKinds, ms []Match) []Match {
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) {
			continue
		}
		j := digitRunEnd(text, i)
		if j-i >= k.minRun() {
			ms = scanRun(text, i, j, k, ms)
		}
		i = j // text[j] is no digit: the loop's i++ may pass it
	}
	return ms
}

func digitRunEnd(text []byte, i int) int {
	for i < len(text) {
		if isDigit(text[i]) {
			i++
			continue
		}
		if (text[i] == ' ' || text[i] == '-') && i+1 < len(text) && isDigit(text[i+1]) {
			i++
			continue
		}
		break
	}
	return i
}

// scanRun judges the run text[s:e], then its words and the segments between
// the words found.
func scanRun(text []byte, s, e int, k digitKinds, ms []Match) []Match {
	if d := k.judge(text, s, e); d != "" {
		return append(ms, Match{Detector: d, Start: s, End: e})
	}
	if bytes.IndexByte(text[s:e], ' ') < 0 {
		return ms
	}
	found, seg := false, s
	for w := s; w < e; {
		we := w + bytes.IndexByte(text[w:e], ' ')
		if we < w {
			we = e
		}
		if d := k.judge(text, w, we); d != "" {
			if w-1 > seg {
				if sd := k.judge(text, seg, w-1); sd != "" {
					ms = append(ms, Match{Detector: sd, Start: seg, End: w - 1})
				}
			}
			ms = append(ms, Match{Detector: d, Start: w, End: we})
			found, seg = true, we+1
		}
		w = we + 1
	}
	if found && seg < e {
		if sd := k.judge(text, seg, e); sd != "" {
			ms = append(ms, Match{Detector: sd, Start: seg, End: e})
		}
	}
	return ms
}

// numBorderOK reports whether text[s:e] stands alone as a number: not joined
// to a word character, nor to another number by punctuation that numbers
// use ("3.4111…", "12:30", "1/2").
func numBorderOK(text []byte, s, e int) bool {
	if s > 0 {
		c := text[s-1]
		if isWord(c) || isNumPunct(c) && s >= 2 && isDigit(text[s-2]) {
			return false
		}
	}
	if e < len(text) {
		c := text[e]
		if isWord(c) || isNumPunct(c) && e+1 < len(text) && isDigit(text[e+1]) {
			return false
		}
	}
	return true
}

func isNumPunct(c byte) bool {
	switch c {
	case '.', ',', ':', '/', '-':
		return true
	}
	return false
}

// validCard accepts 13 to 19 digits, alone or grouped by one kind of
// separator in a printed layout (cardLayout), that pass the Luhn check
// (ISO/IEC 7812-1 Annex B) and start with an issuer prefix that has numbers
// of that length (cardIssuers).
func validCard(b []byte) bool {
	var groups [8]int
	ng, digits, sep := 0, 0, byte(0)
	for _, c := range b {
		if isDigit(c) {
			groups[ng]++
			if digits++; digits > 19 {
				return false
			}
			continue
		}
		if sep != 0 && c != sep || ng == len(groups)-1 {
			return false
		}
		sep, ng = c, ng+1
	}
	ng++
	if digits < 13 || ng > 1 && !cardLayout(groups[:ng]) {
		return false
	}
	return luhn(b) && cardIssuer(b, digits)
}

// cardLayout accepts the ways card numbers are printed: groups of four with a
// last group of one to four (16 digits as 4-4-4-4, 19 as 4-4-4-4-3), the
// 4-6-5 of American Express, the 4-6-4 of Diners Club, and 4-3-3-3 and 4-4-5
// for 13 digits.
func cardLayout(g []int) bool {
	if g[0] != 4 {
		return false
	}
	fours := true
	for _, n := range g[1 : len(g)-1] {
		fours = fours && n == 4
	}
	if fours && g[len(g)-1] >= 1 && g[len(g)-1] <= 4 {
		return true
	}
	return slices.Equal(g, []int{4, 6, 5}) || slices.Equal(g, []int{4, 6, 4}) ||
		slices.Equal(g, []int{4, 4, 5}) || slices.Equal(g, []int{4, 3, 3, 3})
}

// luhn checks the Luhn digit over the digits of b, skipping separators.
func luhn(b []byte) bool {
	sum, double := 0, false
	for i := len(b) - 1; i >= 0; i-- {
		if !isDigit(b[i]) {
			continue
		}
		d := int(b[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum, double = sum+d, !double
	}
	return sum%10 == 0
}

// cardIssuers are the issuer identification number ranges of the major
// networks with the lengths their numbers have: a prefix of len(lo) digits
// between lo and hi, and a bit set of lengths.
var cardIssuers = []struct {
	lo, hi string
	lens   uint32
}{
	{"4", "4", lengths(13, 13) | lengths(16, 16) | lengths(19, 19)}, // Visa
	{"51", "55", lengths(16, 16)},                                   // Mastercard
	{"2221", "2720", lengths(16, 16)},                               // Mastercard 2-series
	{"2200", "2204", lengths(16, 19)},                               // Mir
	{"34", "34", lengths(15, 15)},                                   // American Express
	{"37", "37", lengths(15, 15)},                                   // American Express
	{"300", "305", lengths(14, 19)},                                 // Diners Club
	{"36", "36", lengths(14, 19)},                                   // Diners Club
	{"38", "39", lengths(16, 19)},                                   // Diners Club
	{"3528", "3589", lengths(16, 19)},                               // JCB
	{"6011", "6011", lengths(16, 19)},                               // Discover
	{"644", "649", lengths(16, 19)},                                 // Discover
	{"65", "65", lengths(16, 19)},                                   // Discover
	{"62", "62", lengths(16, 19)},                                   // UnionPay
	{"50", "50", lengths(13, 19)},                                   // Maestro
	{"56", "58", lengths(13, 19)},                                   // Maestro
	{"63", "63", lengths(13, 19)},                                   // Maestro
	{"67", "67", lengths(13, 19)},                                   // Maestro
}

// lengths is the bit set of the lengths from lo to hi.
func lengths(lo, hi int) uint32 { return 1<<(hi+1) - 1<<lo }

// cardIssuer reports whether the number in b (digits and separators), of the
// given number of digits, starts with a known issuer prefix that has numbers
// of that length.
func cardIssuer(b []byte, digits int) bool {
	var prefix [4]byte
	n := 0
	for i := 0; i < len(b) && n < len(prefix); i++ {
		if isDigit(b[i]) {
			prefix[n] = b[i]
			n++
		}
	}
	for _, iss := range cardIssuers {
		p := prefix[:len(iss.lo)]
		if string(p) >= iss.lo && string(p) <= iss.hi && iss.lens&(1<<digits) != 0 {
			return true
		}
	}
	return false
}

// validSSN accepts a US social security number written AAA-GG-SSSS, except
// the numbers the Social Security Administration never issues: area 000, 666
// or 900 to 999, group 00, serial 0000.
func validSSN(b []byte) bool {
	if len(b) != 11 || b[3] != '-' || b[6] != '-' {
		return false
	}
	for i, c := range b {
		if i != 3 && i != 6 && !isDigit(c) {
			return false
		}
	}
	area, group, serial := string(b[0:3]), string(b[4:6]), string(b[7:11])
	return area != "000" && area != "666" && area < "900" && group != "00" && serial != "0000"
}
