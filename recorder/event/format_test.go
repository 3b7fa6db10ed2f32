package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// payload is one event type's payload: this package's type, the struct its
// producer declared at main, and the document that describes it.
type payload struct {
	typ  Type
	now  any // a value of this package's type
	main any // a value of the producer's struct, as it was at main
	doc  string
}

const (
	formatDoc   = "../../docs/recording-format.md"
	requestsDoc = "../../docs/access-requests.md"
)

var payloads = []payload{
	{TypeSessionStart, SessionStart{}, mainSessionStart{}, formatDoc},
	{TypeAuthFailure, AuthFailure{}, mainAuthFailure{}, formatDoc},
	{TypeAuthSuccess, AuthSuccess{}, mainAuthSuccess{}, formatDoc},
	{TypeAuthThrottled, AuthThrottled{}, mainAuthThrottled{}, formatDoc},
	{TypeChannelOpen, ChannelOpen{}, mainChannelOpen{}, formatDoc},
	{TypeChannelRefused, ChannelRefused{}, mainChannelRefused{}, formatDoc},
	{TypeChannelClose, ChannelClose{}, mainChannelClose{}, formatDoc},
	{TypeRequestRefused, RequestRefused{}, mainRequestRefused{}, formatDoc},
	{TypeSessionRevoked, SessionRevoked{}, mainSessionRevoked{}, formatDoc},
	{TypeSessionExpired, SessionExpired{}, mainSessionExpired{}, formatDoc},
	{TypeSessionEnd, SessionEnd{}, mainSessionEnd{}, formatDoc},
	{TypeDBSessionStart, DBSessionStart{}, mainDBStart{}, formatDoc},
	{TypeDBDecision, DBDecision{}, mainDBDecision{}, formatDoc},
	{TypeDBStatement, DBStatement{}, mainDBStatement{}, formatDoc},
	{TypeDBCancel, DBCancel{}, mainDBCancel{}, formatDoc},
	{TypeDBCancelled, DBCancelled{}, mainDBCancelled{}, formatDoc},
	{TypeDBSessionEnd, DBSessionEnd{}, mainDBEnd{}, formatDoc},
	{TypeCertIssued, CertIssued{}, mainIssuedEvent{}, formatDoc},
	{TypeCertRefused, CertRefused{}, mainRefusedEvent{}, formatDoc},
	{TypeCertThrottled, CertThrottled{}, mainThrottledEvent{}, formatDoc},
	{TypeCertRevoked, CertRevoked{}, mainRevokedEvent{}, formatDoc},
	{TypeRequestFiled, RequestStep{}, mainRequestEvent{}, requestsDoc},
	{TypeRequestApproved, RequestStep{}, mainRequestEvent{}, requestsDoc},
	{TypeRequestDenied, RequestStep{}, mainRequestEvent{}, requestsDoc},
	{TypeRequestRefused, AccessRequestRefused{}, mainRequestRefusedEvent{}, requestsDoc},
	// The console's events are new with the console: no earlier struct.
	{TypeConsoleLogin, ConsoleLogin{}, ConsoleLogin{}, formatDoc},
	{TypeConsoleLogout, ConsoleLogout{}, ConsoleLogout{}, formatDoc},
	{TypeConsoleView, ConsoleView{}, ConsoleView{}, formatDoc},
	{TypeConsoleExport, ConsoleExport{}, ConsoleExport{}, formatDoc},
	{TypeConsoleRefused, ConsoleRefused{}, ConsoleRefused{}, formatDoc},
	{TypeConsoleThrottled, ConsoleThrottled{}, ConsoleThrottled{}, formatDoc},
	{TypeCheckpoint, Checkpoint{}, mainCheckpoint{}, formatDoc},
	{TypeStreamOpen, LedgerMark{}, mainLedgerMark{}, formatDoc},
	{TypeStreamCheckpoint, LedgerMark{}, mainLedgerMark{}, formatDoc},
	{TypeStreamClosed, LedgerMark{}, mainLedgerMark{}, formatDoc},
}

// marshal is recorder.Marshal: encoding/json without its HTML escaping.
func marshal(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// TestEncodingUnchanged: every payload type encodes to exactly the bytes
// its producer's struct at main encoded the same values to, with every
// field set (names, order, types) and with none (omitempty), so that
// recordings keep their format and earlier ones read back.
func TestEncodingUnchanged(t *testing.T) {
	for _, p := range payloads {
		t.Run(string(p.typ), func(t *testing.T) {
			for _, full := range []bool{true, false} {
				now, main := reflect.New(reflect.TypeOf(p.now)), reflect.New(reflect.TypeOf(p.main))
				if full {
					fill(now.Elem(), new(int))
					fill(main.Elem(), new(int))
				}
				got, want := marshal(t, now.Interface()), marshal(t, main.Interface())
				if !bytes.Equal(got, want) {
					t.Errorf("filled %v:\n got %s\nwant %s", full, got, want)
				}
			}
		})
	}
}

// fill sets every field of v, depth first, to a value of its kind that no
// other field gets: the n-th leaf gets n.
func fill(v reflect.Value, n *int) {
	*n++
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 12, 5, 8, 0, *n, *n*1000, time.UTC)))
		return
	case v.Type() == reflect.TypeFor[any]():
		v.Set(reflect.ValueOf("value " + strconv.Itoa(*n)))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		key, val := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(key, n)
		fill(val, n)
		v.SetMapIndex(key, val)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), n)
		fill(v.Index(1), n)
	case reflect.String:
		v.SetString(fmt.Sprintf("text %d <&> \u2028", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.25)
	default:
		panic("fill: no value for " + v.Type().String())
	}
}

// TestDocsNameEveryTypeAndField: each event type declared in type.go has
// a payload here, and its document names it (a "### `TYPE`" heading or a
// table row) and, in that section, each of its payload's fields; so the
// package and the documents cannot drift apart.
func TestDocsNameEveryTypeAndField(t *testing.T) {
	declared := declaredTypes(t)
	for _, typ := range declared {
		if !hasPayload(typ) {
			t.Errorf("%s is declared in type.go but has no payload in this test", typ)
		}
	}
	if len(declared) < 25 {
		t.Fatalf("only %d types parsed from type.go", len(declared))
	}
	for _, p := range payloads {
		doc, err := os.ReadFile(p.doc)
		if err != nil {
			t.Fatal(err)
		}
		section, ok := docSection(string(doc), p.typ)
		if !ok {
			t.Errorf("%s does not describe %s", p.doc, p.typ)
			continue
		}
		named := backticked(section)
		for _, f := range jsonFields(reflect.TypeOf(p.now)) {
			if !named[f] {
				t.Errorf("%s: %s's section does not name its field %q", p.doc, p.typ, f)
			}
		}
	}
}

func hasPayload(typ Type) bool {
	for _, p := range payloads {
		if p.typ == typ {
			return true
		}
	}
	return false
}

// declaredTypes parses type.go for its Type constants' values.
func declaredTypes(t *testing.T) []Type {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "type.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []Type
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok || spec.Type == nil || fmt.Sprint(spec.Type) != "Type" {
			return true
		}
		for _, v := range spec.Values {
			s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, Type(s))
		}
		return true
	})
	return out
}

// docSection is the part of doc that describes typ: from its "### `typ`"
// heading to the next heading, or, for a type described in a table row,
// the whole section holding the row.
func docSection(doc string, typ Type) (string, bool) {
	lines := strings.Split(doc, "\n")
	at := -1
	for i, l := range lines {
		if l == "### `"+string(typ)+"`" {
			return strings.Join(sectionAround(lines, i+1), "\n"), true
		}
		if at < 0 && strings.HasPrefix(l, "| `"+string(typ)+"` |") {
			at = i
		}
	}
	if at < 0 {
		return "", false
	}
	return strings.Join(sectionAround(lines, at), "\n"), true
}

// sectionAround returns the lines from the heading before line i to the
// heading after it.
func sectionAround(lines []string, i int) []string {
	start, end := i, i
	for start > 0 && !strings.HasPrefix(lines[start-1], "#") {
		start--
	}
	for end < len(lines) && !strings.HasPrefix(lines[end], "#") {
		end++
	}
	return lines[start:end]
}

var (
	codeSpan = regexp.MustCompile("`[^`]+`")
	word     = regexp.MustCompile(`[a-z0-9_]+`)
)

// backticked is the set of words in s's code spans.
func backticked(s string) map[string]bool {
	words := map[string]bool{}
	for _, span := range codeSpan.FindAllString(s, -1) {
		for _, w := range word.FindAllString(span, -1) {
			words[w] = true
		}
	}
	return words
}

// jsonFields are the JSON names of t's fields, those of embedded structs
// included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}
