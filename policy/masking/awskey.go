package masking

import "bytes"

// awsKeyLen is the length of an AWS access key ID.
const awsKeyLen = 20

// scanAWSAccessKey appends to ms the AWS access key IDs in text: "AKIA"
// (long-term) or "ASIA" (temporary, from STS) and 16 characters of the
// base32 alphabet (A-Z, 2-7) with at least one digit among them, not joined
// to a word character on either side. The digit rule keeps upper-case words
// ("ASIAPACIFICDIVISION") out, at the price of the few keys (about 4%) whose
// 16 characters are all letters.
func scanAWSAccessKey(text []byte, ms []Match) []Match {
	for i := 0; i+awsKeyLen <= len(text); {
		k := bytes.IndexByte(text[i:len(text)-awsKeyLen+1], 'A')
		if k < 0 {
			break
		}
		s := i + k
		if awsKeyAt(text, s) {
			ms = append(ms, Match{Detector: DetectorAWSAccessKey, Start: s, End: s + awsKeyLen})
			i = s + awsKeyLen
			continue
		}
		i = s + 1
	}
	return ms
}

func awsKeyAt(text []byte, s int) bool {
	p := text[s : s+4]
	if string(p) != "AKIA" && string(p) != "ASIA" || s > 0 && isWord(text[s-1]) {
		return false
	}
	e := s + awsKeyLen
	if e < len(text) && isWord(text[e]) {
		return false
	}
	digit := false
	for _, c := range text[s+4 : e] {
		switch {
		case '2' <= c && c <= '7':
			digit = true
		case isUpper(c):
		default:
			return false
		}
	}
	return digit
}
