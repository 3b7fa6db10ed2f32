package pgsession

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/policy/lineage"
	"github.com/gatehouse-dev/gatehouse/policy/masking"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
)

// copyPlan masks the rows of one COPY ... TO STDOUT, which carry no
// column identity: the columns' masks come from the statement's lineage,
// and each row is parsed, masked and written again in its format.
type copyPlan struct {
	csv    bool
	header bool           // the first row holds the column names
	masks  []masking.Func // per column; "" passes it unchanged
	masker *masking.Masker
	rows   int // rows seen, for the header
}

// copyOptionsAllowed are the COPY options whose rows copyPlan can read
// back; any other (DELIMITER, NULL, QUOTE, ESCAPE, FORCE_QUOTE, ENCODING)
// changes the format.
var copyOptionsAllowed = []string{"format", "header"}

// planCopy prepares the masking of a COPY TO STDOUT that reads masked data,
// or says why it is refused.
func (m *sessionMasking) planCopy(c *sqlclass.Copy, outputs []lineage.Output) (*copyPlan, string) {
	refuse := func(why string) (*copyPlan, string) {
		return nil, fmt.Sprintf("gatehouse: COPY TO of masked data refused: %s (masking policy %q); use SELECT, whose results are masked", why, m.name)
	}
	if !c.To || !c.Stdio {
		return refuse("only COPY ... TO STDOUT is masked")
	}
	p := &copyPlan{masker: m.masker}
	for name, v := range c.Options {
		if !slices.Contains(copyOptionsAllowed, name) {
			return refuse(fmt.Sprintf("the option %s changes the format gatehouse reads back", name))
		}
		switch name {
		case "format":
			switch v {
			case "text":
			case "csv":
				p.csv = true
			default:
				return refuse(fmt.Sprintf("format %s has no masked form", v))
			}
		case "header":
			// PostgreSQL's defGetBoolean; anything else is not certainly
			// a header, and is masked as a row.
			switch v {
			case "", "true", "on", "1":
				p.header = true
			case "false", "off", "0":
			default:
				return refuse(fmt.Sprintf("HEADER %s", v))
			}
		}
	}
	if outputs == nil {
		return refuse("gatehouse could not trace its columns")
	}
	for _, o := range outputs {
		fn, _ := m.outputRule(o)
		p.masks = append(p.masks, masking.Func(fn))
	}
	return p, ""
}

// row masks one CopyData message, which PostgreSQL sends one row at a
// time. A row that does not parse into the planned columns comes out with
// every column NULL: gatehouse cannot tell which value is which.
func (p *copyPlan) row(dst, data []byte) []byte {
	p.rows++
	if p.header && p.rows == 1 {
		return append(dst, data...)
	}
	line, ok := cutNewline(data)
	if !ok {
		return p.nullRow(dst)
	}
	start := len(dst)
	var fields [][]byte
	var quoted []bool
	if p.csv {
		fields, quoted, ok = splitCSV(line)
	} else {
		fields, ok = splitText(line)
	}
	if !ok || len(fields) != len(p.masks) {
		return p.nullRow(dst)
	}
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, p.delimiter())
		}
		fn := p.masks[i]
		null := (p.csv && len(f) == 0 && !quoted[i]) || (!p.csv && string(f) == `\N`)
		if fn == "" || null {
			dst = p.appendVerbatim(dst, f, quoted != nil && quoted[i])
			continue
		}
		value := f
		if !p.csv {
			var err error
			if value, err = unescapeText(f); err != nil {
				return p.nullRow(dst[:start])
			}
		}
		masked, isNull, err := p.masker.AppendText(nil, fn, value)
		switch {
		case err != nil || isNull:
			dst = p.appendNull(dst)
		case p.csv:
			dst = appendCSVQuoted(dst, masked)
		default:
			dst = appendTextEscaped(dst, masked)
		}
	}
	return append(dst, '\n')
}

func (p *copyPlan) delimiter() byte {
	if p.csv {
		return ','
	}
	return '\t'
}

func (p *copyPlan) appendVerbatim(dst, f []byte, quoted bool) []byte {
	if quoted {
		return appendCSVQuoted(dst, f)
	}
	return append(dst, f...)
}

func (p *copyPlan) appendNull(dst []byte) []byte {
	if p.csv {
		return dst
	}
	return append(dst, `\N`...)
}

func (p *copyPlan) nullRow(dst []byte) []byte {
	for i := range p.masks {
		if i > 0 {
			dst = append(dst, p.delimiter())
		}
		dst = p.appendNull(dst)
	}
	return append(dst, '\n')
}

func cutNewline(data []byte) ([]byte, bool) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, false
	}
	return data[:len(data)-1], true
}

// splitText splits a text-format row on tabs: a tab inside a value is
// always written escaped.
func splitText(line []byte) ([][]byte, bool) {
	var fields [][]byte
	for {
		i := slices.Index(line, '\t')
		if i < 0 {
			return append(fields, line), true
		}
		fields = append(fields, line[:i])
		line = line[i+1:]
	}
}

// unescapeText reads a text-format value (PostgreSQL's CopyReadAttributesText).
func unescapeText(f []byte) ([]byte, error) {
	out := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(f) {
			return nil, fmt.Errorf("a backslash ends the value")
		}
		switch c = f[i]; c {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			j := i + 1
			for j < len(f) && j < i+3 && isHex(f[j]) {
				j++
			}
			if j == i+1 {
				out = append(out, 'x')
				continue
			}
			v, _ := strconv.ParseUint(string(f[i+1:j]), 16, 8)
			out = append(out, byte(v))
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(f) && j < i+3 && '0' <= f[j] && f[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(string(f[i:j]), 8, 16)
			out = append(out, byte(v))
			i = j - 1
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// appendTextEscaped writes a value in the text format.
func appendTextEscaped(dst, v []byte) []byte {
	for _, c := range v {
		switch c {
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\v':
			dst = append(dst, `\v`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// splitCSV splits a CSV row (PostgreSQL's defaults: ',' delimiter, '"'
// quote and escape); quoted says which fields were quoted, since an
// unquoted empty field is NULL and a quoted one the empty string.
func splitCSV(line []byte) (fields [][]byte, quoted []bool, ok bool) {
	for {
		if len(line) > 0 && line[0] == '"' {
			var v []byte
			i := 1
			for {
				if i >= len(line) {
					return nil, nil, false // no closing quote
				}
				if line[i] == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						v = append(v, '"')
						i += 2
						continue
					}
					break
				}
				v = append(v, line[i])
				i++
			}
			fields, quoted = append(fields, v), append(quoted, true)
			line = line[i+1:]
			if len(line) == 0 {
				return fields, quoted, true
			}
			if line[0] != ',' {
				return nil, nil, false
			}
			line = line[1:]
			continue
		}
		i := slices.Index(line, ',')
		if i < 0 {
			return append(fields, line), append(quoted, false), true
		}
		fields, quoted = append(fields, line[:i]), append(quoted, false)
		line = line[i+1:]
	}
}

func appendCSVQuoted(dst, v []byte) []byte {
	dst = append(dst, '"')
	for _, c := range v {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
