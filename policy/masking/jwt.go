package masking

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// maxJWTHeader bounds the header segment the jwt detector decodes (a header
// with an x5c certificate chain runs to a few KiB).
const maxJWTHeader = 16 << 10

// scanJWT appends to ms the JSON Web Tokens in text: the compact
// serializations of a JWS (RFC 7515 §7.1: header.payload.signature, the
// signature empty for an unsecured JWT, RFC 7519 §6.1) and of a JWE (RFC 7516
// §7.1: five segments, the second empty with direct encryption). Segments are
// unpadded base64url; the header must decode to a JSON object with a string
// "alg" (and "enc" for a JWE); the token must not be joined to a base64url
// character or a dot on either side.
func scanJWT(text []byte, ms []Match) []Match {
	// Every token has a dot after its first segment; find the dots (rarer
	// than any letter) and look back for where the segment starts. Looking
	// back stops at i, so each byte is looked at once.
	for i := 0; i < len(text); {
		k := bytes.IndexByte(text[i:], '.')
		if k < 0 {
			break
		}
		dot := i + k
		s := dot
		for s > i && isBase64URL(text[s-1]) {
			s--
		}
		// A header starts with '{', which base64url-encodes to "e".
		if s == dot || text[s] != 'e' || s > 0 && (isBase64URL(text[s-1]) || text[s-1] == '.') {
			i = dot + 1
			continue
		}
		end, ok := jwtAt(text, s)
		if ok {
			ms = append(ms, Match{Detector: DetectorJWT, Start: s, End: end})
		}
		i = max(end, dot+1)
	}
	return ms
}

// jwtAt reads the dot-joined segments starting at text[s] and reports where
// they end and whether they are a token. A dot joins the next segment only if
// a base64url character or another dot follows it, so that a full stop after
// a token is not part of it; but two segments and a dot are a JWS with an
// empty signature.
func jwtAt(text []byte, s int) (end int, ok bool) {
	var segs [5][]byte
	n, e := 0, s
	for {
		st := e
		for e < len(text) && isBase64URL(text[e]) {
			e++
		}
		if n == len(segs) {
			return e, false
		}
		segs[n], n = text[st:e], n+1
		if e+1 < len(text) && text[e] == '.' && (isBase64URL(text[e+1]) || text[e+1] == '.') {
			e++
			continue
		}
		break
	}
	if n == 2 && e < len(text) && text[e] == '.' {
		segs[n], n, e = nil, n+1, e+1
	}
	switch {
	case n == 3 && len(segs[1]) > 0 && allBase64URL(segs[1:3]) && jwtHeader(segs[0], false):
		return e, true
	case n == 5 && len(segs[2]) > 0 && len(segs[3]) > 0 && len(segs[4]) > 0 &&
		allBase64URL(segs[1:5]) && jwtHeader(segs[0], true):
		return e, true
	}
	return e, false
}

func isBase64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// allBase64URL reports whether each segment has a length unpadded base64 can
// have (RFC 4648 §3.2: never one more than a multiple of four).
func allBase64URL(segs [][]byte) bool {
	for _, seg := range segs {
		if len(seg)%4 == 1 {
			return false
		}
	}
	return true
}

// jwtHeader reports whether seg decodes to a JOSE header: a JSON object with
// a string "alg", and a string "enc" if encrypted (RFC 7516 §4.1.2).
func jwtHeader(seg []byte, encrypted bool) bool {
	if len(seg) == 0 || len(seg) > maxJWTHeader {
		return false
	}
	raw, err := base64.RawURLEncoding.AppendDecode(nil, seg)
	if err != nil {
		return false
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(raw, &h) != nil {
		return false
	}
	isString := func(v json.RawMessage) bool { return len(v) > 0 && v[0] == '"' }
	return isString(h["alg"]) && (!encrypted || isString(h["enc"]))
}
