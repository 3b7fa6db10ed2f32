package sqlclass

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// shape is a text's token sequence with constants' values left out: key
// identifies it, tokens are the text's own (for statement boundaries).
type shape struct {
	key    string
	tokens []*pg_query.ScanToken
}

// constantTokens are the scanner's literal tokens. Everything else —
// keywords (TRUE, NULL), identifiers, operators, parameters, comments — is
// part of the key with its exact text.
var constantTokens = map[pg_query.Token]bool{
	pg_query.Token_ICONST:  true,
	pg_query.Token_FCONST:  true,
	pg_query.Token_SCONST:  true,
	pg_query.Token_USCONST: true,
	pg_query.Token_BCONST:  true,
	pg_query.Token_XCONST:  true,
}

// shapeOf scans sql with PostgreSQL's scanner (the one its parser uses,
// with standard_conforming_strings on, which the bastion does not let a
// session change). ok is false when the text does not scan, holds a NUL
// (the C scanner would stop there) or is not UTF-8 (the parse tree of such
// a text cannot be decoded, so Classify refuses it: so must the shape).
func shapeOf(sql string) (shape, bool) {
	if strings.IndexByte(sql, 0) >= 0 || !utf8.ValidString(sql) {
		return shape{}, false
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		return shape{}, false
	}
	// Each token is its type and the length of the text that follows, so
	// no two token sequences share a key.
	key := make([]byte, 0, len(sql)+4*len(res.Tokens))
	for _, t := range res.Tokens {
		key = binary.AppendUvarint(key, uint64(t.Token))
		if constantTokens[t.Token] {
			key = binary.AppendUvarint(key, 0)
			continue
		}
		text, ok := slice(sql, t.Start, t.End)
		if !ok {
			return shape{}, false
		}
		key = binary.AppendUvarint(key, uint64(len(text)))
		key = append(key, text...)
	}
	return shape{key: string(key), tokens: res.Tokens}, true
}

func slice(sql string, start, end int32) (string, bool) {
	if start < 0 || start > end || int(end) > len(sql) {
		return "", false
	}
	return sql[start:end], true
}

// tokenSpan is a statement's text as token indexes, first and last
// inclusive; first > last for a statement with no text.
type tokenSpan struct{ first, last int }

// newShapeEntry remembers sts by shape, or returns nil when a statement's
// text does not begin and end on token boundaries (then it cannot be
// found again in another text of the shape).
func newShapeEntry(sts []Statement, sh shape) *shapeEntry {
	e := &shapeEntry{statements: sts, spans: make([]tokenSpan, len(sts))}
	for i, st := range sts {
		span, ok := spanOf(sh.tokens, st.Location, st.Location+len(st.Text))
		if !ok {
			return nil
		}
		e.spans[i] = span
	}
	return e
}

func spanOf(tokens []*pg_query.ScanToken, start, end int) (tokenSpan, bool) {
	span := tokenSpan{first: -1, last: -1}
	for i, t := range tokens {
		if int(t.Start) == start && span.first < 0 {
			span.first = i
		}
		if int(t.End) == end {
			span.last = i
		}
	}
	return span, span.first >= 0 && span.last >= span.first
}

// forText is the remembered result with each statement's text and
// location taken from sql, whose shape is sh.
func (e shapeEntry) forText(sql string, sh shape) ([]Statement, bool) {
	out := cloneStatements(e.statements)
	for i, span := range e.spans {
		if span.last >= len(sh.tokens) {
			return nil, false
		}
		start, end := int(sh.tokens[span.first].Start), int(sh.tokens[span.last].End)
		text, ok := slice(sql, int32(start), int32(end))
		if !ok {
			return nil, false
		}
		out[i].Text, out[i].Location = text, start
	}
	return out, true
}
