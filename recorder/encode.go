package recorder

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Events are encoded by hand rather than by encoding/json, whose
// reflection and re-scan of the payload (a json.RawMessage is compacted
// again) were the recorder's largest cost per statement. The bytes must
// be exactly those Marshal gives: every line is hash-chained, and
// docs/recording-format.md describes them. encode_test.go and
// FuzzAppendJSON hold both encoders to that.

// Marshal is json.Marshal without its HTML escaping: a recording is read
// with grep and jq, never embedded in a web page, so `id > 2` stays
// `id > 2` (and a statement of `<` does not grow sixfold). Lines written
// before, with `\u003e`, still verify: the chain is over the bytes as
// they stand, whatever escaping they used.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// payloadAppender is a payload that encodes itself, for the events
// written for every statement. AppendJSON appends exactly what
// Marshal would give for the same value, using AppendJSONString and
// its siblings. Stream calls it with the stream's lock held, so it must
// not emit on the stream.
type payloadAppender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

// rawPayload is a payload Marshal encoded already.
type rawPayload []byte

func (r rawPayload) AppendJSON(dst []byte) ([]byte, error) { return append(dst, r...), nil }

// appendEvent appends ev's line with data as its payload (ev.Data is
// ignored), as Marshal(ev) would encode it, and returns where the
// payload is within the line.
func appendEvent(dst []byte, ev *Event, data payloadAppender) (line, payload []byte, err error) {
	if dst, err = appendEnvelope(dst, ev); err != nil {
		return nil, nil, err
	}
	return appendData(AppendJSONString(dst, ev.Prev), data)
}

// appendEnvelope appends ev's fields up to `"prev":`, whose value the
// caller appends (a Stream its chain head, without making a string of it).
func appendEnvelope(dst []byte, ev *Event) ([]byte, error) {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(ev.V), 10)
	dst = append(dst, `,"stream":`...)
	dst = AppendJSONString(dst, ev.Stream)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, `,"time":"`...)
	// time.Time's MarshalJSON is its AppendText quoted; both refuse a
	// year that RFC 3339 cannot hold.
	dst, err := ev.Time.AppendText(dst)
	if err != nil {
		return nil, err
	}
	dst = append(dst, `","type":`...)
	dst = AppendJSONString(dst, string(ev.Type))
	return append(dst, `,"prev":`...), nil
}

// appendData appends the data field and closes the event: an empty
// payload is left out, as Event's omitempty does.
func appendData(dst []byte, data payloadAppender) (line, payload []byte, err error) {
	head := len(dst)
	dst = append(dst, `,"data":`...)
	start := len(dst)
	if dst, err = data.AppendJSON(dst); err != nil {
		return nil, nil, err
	}
	if len(dst) == start {
		return append(dst[:head], '}'), nil, nil
	}
	line = append(dst, '}')
	return line, line[start : len(line)-1], nil
}

// AppendJSONString appends s as a JSON string exactly as Marshal encodes
// it: <, > and & as they are, U+2028 and U+2029 escaped for JavaScript
// (encoding/json always does), and each byte of invalid UTF-8 as \ufffd.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	done := 0 // s[:done] is in dst
	for i := 0; i < len(s); {
		// Most of a statement is plain ASCII: skip it in a tight loop.
		for i < len(s) && jsonPlain[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		esc, size := jsonEscape(s[i:])
		if esc != "" {
			dst = append(append(dst, s[done:i]...), esc...)
			done = i + size
		}
		i += size
	}
	return append(append(dst, s[done:]...), '"')
}

// jsonEscape returns what encoding/json writes for the character s
// starts with, if not the character itself, and the character's length.
func jsonEscape(s string) (esc string, size int) {
	if c := s[0]; c < utf8.RuneSelf {
		return asciiEscapes[c], 1
	}
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case r == utf8.RuneError && size == 1:
		return `\ufffd`, size
	case r == '\u2028':
		return `\u2028`, size
	case r == '\u2029':
		return `\u2029`, size
	}
	return "", size
}

// jsonPlain says which bytes Marshal copies into a string as they are:
// ASCII but not control characters, the quote and backslash. DEL (0x7f)
// is copied. It has an entry
// for every byte so that indexing it needs no bounds check; the bytes of
// multi-byte UTF-8 are not plain, and are decoded.
var jsonPlain = func() (plain [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = true
	}
	for _, c := range `"\` {
		plain[c] = false
	}
	return plain
}()

// asciiEscapes holds encoding/json's escape of each ASCII byte that is
// not plain: the short forms it has, else \u00XX.
var asciiEscapes = func() (esc [utf8.RuneSelf]string) {
	short := map[byte]string{'"': `\"`, '\\': `\\`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}
	for c := range byte(utf8.RuneSelf) {
		switch {
		case jsonPlain[c]:
		case short[c] != "":
			esc[c] = short[c]
		default:
			esc[c] = `\u00` + string(hexDigits[c>>4]) + string(hexDigits[c&0xf])
		}
	}
	return esc
}()

const hexDigits = "0123456789abcdef"

// AppendJSONStrings appends ss as encoding/json encodes a []string: null
// when nil. A field tagged omitempty leaves out an empty ss altogether.
func AppendJSONStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

// AppendJSONFloat appends f as encoding/json encodes a float64: like
// ECMAScript's number to string, the shortest decimal that reads back
// as f, in exponent form only below 1e-6 or from 1e21, with the
// exponent unpadded (1e-7, not 1e-07). NaN and the infinities are not
// JSON: they are refused with the error encoding/json gives.
func AppendJSONFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, &json.UnsupportedValueError{Value: reflect.ValueOf(f), Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	if abs := math.Abs(f); abs == 0 || (abs >= 1e-6 && abs < 1e21) {
		return strconv.AppendFloat(dst, f, 'f', -1, 64), nil
	}
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
	// strconv pads a negative exponent to two digits (e-07); unpad it.
	if n := len(dst); dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
		dst[n-2] = dst[n-1]
		dst = dst[:n-1]
	}
	return dst, nil
}
