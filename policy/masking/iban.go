package masking

import "strings"

// ibanCountries are the IBAN lengths of the countries in the SWIFT IBAN
// registry (ISO 13616) that the iban detector knows: country code and length.
const ibanCountries = "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 " +
	"CZ24 DE22 DK18 DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 " +
	"HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 " +
	"ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 " +
	"SI19 SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"

// maxIBAN is the longest IBAN ISO 13616 allows.
const maxIBAN = 34

// ibanLength maps a country code (two upper-case letters, as c0*26+c1) to the
// length of its IBANs, 0 for a country not in ibanCountries.
var ibanLength = func() (t [26 * 26]uint8) {
	for _, f := range strings.Fields(ibanCountries) {
		t[int(f[0]-'A')*26+int(f[1]-'A')] = (f[2]-'0')*10 + f[3] - '0'
	}
	return t
}()

// scanIBAN appends to ms the IBANs in text: a known country code, two check
// digits and the rest in upper-case letters and digits, to the exact length of
// the country, written either compact or in groups of four separated by
// single spaces, not joined to a word character on either side, and passing
// the ISO 7064 MOD 97-10 check of ISO 13616.
func scanIBAN(text []byte, ms []Match) []Match {
	for i := 0; i+4 <= len(text); i++ {
		if !isUpper(text[i]) || !isUpper(text[i+1]) || !isDigit(text[i+2]) || !isDigit(text[i+3]) ||
			i > 0 && isWord(text[i-1]) {
			continue
		}
		if e, ok := ibanAt(text, i); ok {
			ms = append(ms, Match{Detector: DetectorIBAN, Start: i, End: e})
			i = e - 1
		}
	}
	return ms
}

func ibanAt(text []byte, s int) (end int, ok bool) {
	n := int(ibanLength[int(text[s]-'A')*26+int(text[s+1]-'A')])
	check := string(text[s+2 : s+4])
	if n == 0 || check == "00" || check == "01" || check == "99" {
		return 0, false // check digits 00, 01 and 99 are never computed
	}
	var iban [maxIBAN]byte
	copy(iban[:], text[s:s+4])
	e := s + 4
	grouped := e < len(text) && text[e] == ' '
	for k := 4; k < n; k++ {
		if grouped && k%4 == 0 {
			if e >= len(text) || text[e] != ' ' {
				return 0, false
			}
			e++
		}
		if e >= len(text) || !isUpper(text[e]) && !isDigit(text[e]) {
			return 0, false
		}
		iban[k] = text[e]
		e++
	}
	if e < len(text) && isWord(text[e]) {
		return 0, false
	}
	return e, ibanMod97(iban[:n]) == 1
}

// ibanMod97 computes the remainder of ISO 13616: the first four characters
// moved to the end, letters read as 10 to 35, the whole as a decimal number
// modulo 97.
func ibanMod97(iban []byte) int {
	rem := 0
	for i := range iban {
		c := iban[(i+4)%len(iban)]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	return rem
}
