package pgsession

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// recordedParameter is how a bind value appears in a db.statement record
// when the statement policy sets log_parameters: a JSON string for a
// text-format value, null for SQL NULL, and this object for a value whose
// bytes are not text (binary format, or text that is not UTF-8), so that
// nothing is lost or altered by JSON's encoding.
type recordedParameter struct {
	Format string `json:"format"` // binary | text
	Base64 string `json:"base64"`
	// Bytes and SHA256 are the whole value's length and hash, for a value
	// longer than maxRecordedParameter, of which Base64 holds the first
	// maxRecordedParameter bytes.
	Bytes  int    `json:"bytes,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Bounds of the bind values a record keeps (docs/recording-format.md,
// "Bounds"): the first maxRecordedParameters values (params counts them
// all), each cut to maxRecordedParameter bytes.
const (
	maxRecordedParameters = 100
	maxRecordedParameter  = 1 << 10
)

// recordedParameters turns bind values into their record; nil when none
// were kept.
func recordedParameters(ps []pgwire.Parameter) []any {
	if ps == nil {
		return nil
	}
	out := make([]any, min(len(ps), maxRecordedParameters))
	for i, p := range ps[:len(out)] {
		switch {
		case p.Value == nil:
			out[i] = nil
		case len(p.Value) > maxRecordedParameter:
			out[i] = clippedParameter(p)
		case !p.Binary && utf8.Valid(p.Value):
			out[i] = string(p.Value)
		default:
			out[i] = recordedParameter{Format: parameterFormat(p), Base64: base64.StdEncoding.EncodeToString(p.Value)}
		}
	}
	return out
}

// clippedParameter is the record of a value too long to keep whole.
func clippedParameter(p pgwire.Parameter) recordedParameter {
	sum := sha256.Sum256(p.Value)
	return recordedParameter{Format: parameterFormat(p), Base64: base64.StdEncoding.EncodeToString(p.Value[:maxRecordedParameter]),
		Bytes: len(p.Value), SHA256: hex.EncodeToString(sum[:])}
}

func parameterFormat(p pgwire.Parameter) string {
	if p.Binary {
		return "binary"
	}
	return "text"
}
