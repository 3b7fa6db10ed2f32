package bastion

import (
	"encoding/base64"
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
}

// recordedParameters turns bind values into their record; nil when none
// were kept.
func recordedParameters(ps []pgwire.Parameter) []any {
	if ps == nil {
		return nil
	}
	out := make([]any, len(ps))
	for i, p := range ps {
		switch {
		case p.Value == nil:
			out[i] = nil
		case !p.Binary && utf8.Valid(p.Value):
			out[i] = string(p.Value)
		default:
			format := "text"
			if p.Binary {
				format = "binary"
			}
			out[i] = recordedParameter{Format: format, Base64: base64.StdEncoding.EncodeToString(p.Value)}
		}
	}
	return out
}
