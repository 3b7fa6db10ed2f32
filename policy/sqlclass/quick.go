package sqlclass

import pg_query "github.com/pganalyze/pg_query_go/v6"

// The quick shape is a key cheaper than shapeOf for what most clients
// send a new literal in each time (pgbench -S: WHERE aid = 42): a text of
// plain ASCII words, blanks and operators whose only constants are short
// unsigned integers. It is the text with each such integer replaced by
// quickConst, made by a loop over the bytes instead of PostgreSQL's
// scanner (a cgo call and a protobuf decode on every statement).
//
// Two texts of one quick shape differ only in the digits of integers that
// stand in the same places, between the same bytes, so PostgreSQL's
// scanner reads both as the same tokens with only those ICONSTs' values
// different: the same shape (shapeOf). A result is remembered by quick
// shape only when it is remembered by shape, and only when the scanner's
// own tokens of the text agree that its constants are exactly those
// integers (quickConstsMatch). Anything the loop is not sure of (quotes,
// comments, $, a backslash, non-ASCII, a number with a point, an exponent,
// an underscore or a letter, more than maxQuickDigits digits) gives no
// quick shape, and the text goes the scanner's way.

// quickConst stands for an integer in a quick shape; the texts it is
// made from hold no NUL, so it stands for nothing else.
const quickConst = 0

// maxQuickDigits is the longest integer a quick shape leaves out:
// nine digits always fit PostgreSQL's int4, so the scanner makes an ICONST
// of them (a longer one may become an FCONST, another token).
const maxQuickDigits = 9

// quickSpan is an integer's place in a text: sql[start:end].
type quickSpan struct{ start, end int }

// quickByte classes the bytes a quick shape may hold.
var quickByte = func() (class [256]byte) {
	for c := 'a'; c <= 'z'; c++ {
		class[c], class[c-'a'+'A'] = quickWord, quickWord
	}
	class['_'] = quickWord
	for c := '0'; c <= '9'; c++ {
		class[c] = quickDigit
	}
	for _, c := range " \t\n\r(),;.=<>+-*/%:[]" {
		class[c] = quickOther
	}
	return class
}()

const (
	quickNo    = iota // not in a quick shape
	quickWord         // starts or continues a keyword or identifier
	quickDigit        // continues an identifier, or is an integer
	quickOther        // a blank, a punctuation mark or an operator
)

// quickShapeOf appends sql's quick shape to key, and its integers to
// consts; ok is false when sql has none.
func quickShapeOf(key []byte, consts []quickSpan, sql string) ([]byte, []quickSpan, bool) {
	for i := 0; i < len(sql); {
		c := sql[i]
		switch quickByte[c] {
		case quickWord:
			j := i + 1
			for j < len(sql) && (quickByte[sql[j]] == quickWord || quickByte[sql[j]] == quickDigit) {
				j++
			}
			key, i = append(key, sql[i:j]...), j
		case quickDigit:
			j := i + 1
			for j < len(sql) && quickByte[sql[j]] == quickDigit {
				j++
			}
			if j-i > maxQuickDigits || (j < len(sql) && (quickByte[sql[j]] == quickWord || sql[j] == '.')) || (i > 0 && sql[i-1] == '.') {
				return key, consts, false
			}
			key, consts, i = append(key, quickConst), append(consts, quickSpan{i, j}), j
		case quickOther:
			if (c == '-' || c == '/') && i+1 < len(sql) && (sql[i+1] == c || c == '/' && sql[i+1] == '*') {
				return key, consts, false // a comment: -- or /*
			}
			key, i = append(key, c), i+1
		default:
			return key, consts, false
		}
	}
	return key, consts, true
}

// quickConstsMatch says whether the scanner's constants in tokens are
// exactly the integers of consts, each an ICONST.
func quickConstsMatch(tokens []*pg_query.ScanToken, consts []quickSpan) bool {
	n := 0
	for _, t := range tokens {
		if !constantTokens[t.Token] {
			continue
		}
		if n == len(consts) || t.Token != pg_query.Token_ICONST || int(t.Start) != consts[n].start || int(t.End) != consts[n].end {
			return false
		}
		n++
	}
	return n == len(consts)
}

// quickEntry is a result remembered by quick shape: each statement's text
// as its start and end in the key, which a text of the shape maps back.
type quickEntry struct {
	statements []Statement
	spans      []quickSpan // in the key
}

// newQuickEntry remembers sts, classified from sql whose integers are
// consts, by quick shape; nil when a statement's text does not begin and
// end outside the integers.
func newQuickEntry(sts []Statement, consts []quickSpan) *quickEntry {
	e := &quickEntry{statements: sts, spans: make([]quickSpan, len(sts))}
	for i, st := range sts {
		start, ok := keyOffset(consts, st.Location)
		end, ok2 := keyOffset(consts, st.Location+len(st.Text))
		if !ok || !ok2 {
			return nil
		}
		e.spans[i] = quickSpan{start, end}
	}
	return e
}

// keyOffset is where a text's offset falls in its quick shape; ok is false
// inside an integer.
func keyOffset(consts []quickSpan, off int) (int, bool) {
	shrunk := 0 // bytes the integers before off lost in the key
	for _, c := range consts {
		if off <= c.start {
			break
		}
		if off < c.end {
			return 0, false
		}
		shrunk += c.end - c.start - 1
	}
	return off - shrunk, true
}

// textOffset is where an offset of the quick shape falls in a text whose
// integers are consts: keyOffset's inverse.
func textOffset(consts []quickSpan, k int) int {
	grown := 0
	for _, c := range consts {
		if k <= c.start-grown {
			break
		}
		grown += c.end - c.start - 1
	}
	return k + grown
}

// forText is the remembered result with each statement's text and
// location taken from sql, whose integers are consts.
func (e *quickEntry) forText(sql string, consts []quickSpan) []Statement {
	out := cloneStatements(e.statements)
	for i, span := range e.spans {
		start, end := textOffset(consts, span.start), textOffset(consts, span.end)
		out[i].Text, out[i].Location = sql[start:end], start
	}
	return out
}
