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

// payload is one event type's payload: this package's type and the
// document that describes it.
type payload struct {
	typ Type
	now any // a value of this package's type
	doc string
}

const (
	formatDoc   = "../../docs/recording-format.md"
	requestsDoc = "../../docs/access-requests.md"
)

var payloads = []payload{
	{TypeSessionStart, SessionStart{}, formatDoc},
	{TypeAuthFailure, AuthFailure{}, formatDoc},
	{TypeAuthSuccess, AuthSuccess{}, formatDoc},
	{TypeAuthThrottled, AuthThrottled{}, formatDoc},
	{TypeChannelOpen, ChannelOpen{}, formatDoc},
	{TypeChannelRefused, ChannelRefused{}, formatDoc},
	{TypeChannelClose, ChannelClose{}, formatDoc},
	{TypeRequestRefused, RequestRefused{}, formatDoc},
	{TypeSessionRevoked, SessionRevoked{}, formatDoc},
	{TypeSessionExpired, SessionExpired{}, formatDoc},
	{TypeSessionEnd, SessionEnd{}, formatDoc},
	{TypeDBSessionStart, DBSessionStart{}, formatDoc},
	{TypeDBDecision, DBDecision{}, formatDoc},
	{TypeDBStatement, DBStatement{}, formatDoc},
	{TypeDBCancel, DBCancel{}, formatDoc},
	{TypeDBCancelled, DBCancelled{}, formatDoc},
	{TypeDBSessionEnd, DBSessionEnd{}, formatDoc},
	{TypeCertIssued, CertIssued{}, formatDoc},
	{TypeCertRefused, CertRefused{}, formatDoc},
	{TypeCertThrottled, CertThrottled{}, formatDoc},
	{TypeCertRevoked, CertRevoked{}, formatDoc},
	{TypeRequestFiled, RequestStep{}, requestsDoc},
	{TypeRequestApproved, RequestStep{}, requestsDoc},
	{TypeRequestDenied, RequestStep{}, requestsDoc},
	{TypeRequestRefused, AccessRequestRefused{}, requestsDoc},
	// The console's events are new with the console (no earlier
	// producer): their golden lines are what they encoded when added.
	{TypeConsoleLogin, ConsoleLogin{}, formatDoc},
	{TypeConsoleLogout, ConsoleLogout{}, formatDoc},
	{TypeConsoleView, ConsoleView{}, formatDoc},
	{TypeConsoleExport, ConsoleExport{}, formatDoc},
	{TypeConsoleRefused, ConsoleRefused{}, formatDoc},
	{TypeConsoleThrottled, ConsoleThrottled{}, formatDoc},
	{TypeConsoleLinkMinted, ConsoleLinkMinted{}, formatDoc},
	{TypeConsoleLinkUsed, ConsoleLinkUsed{}, formatDoc},
	{TypeCheckpoint, Checkpoint{}, formatDoc},
	{TypeStreamOpen, LedgerMark{}, formatDoc},
	{TypeStreamCheckpoint, LedgerMark{}, formatDoc},
	{TypeStreamClosed, LedgerMark{}, formatDoc},
}

// name is the payload's case in testdata/encoding.golden: its type and
// its Go type, since request.refused has two payloads.
func (p payload) name() string {
	return string(p.typ) + " " + reflect.TypeOf(p.now).Name()
}

// encodingGolden holds, a line per case ("NAME\tJSON"), the bytes each
// payload encoded to before this package existed: written once from
// main's producer structs at commit 7e5d14b (bastion, ca,
// internal/sourcelimit, policy.Identity, recorder), filled by fill and
// empty. Never regenerate it from this package's types: the test would
// then compare them with themselves and could not fail. A new payload
// type or field adds a line by hand, from what the producer encodes.
const encodingGolden = "testdata/encoding.golden"

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
	golden := readGolden(t, encodingGolden)
	for _, p := range payloads {
		for _, full := range []bool{true, false} {
			name := p.name() + " " + map[bool]string{true: "full", false: "zero"}[full]
			t.Run(name, func(t *testing.T) {
				want, ok := golden[name]
				if !ok {
					t.Fatalf("%s has no line %q", encodingGolden, name)
				}
				delete(golden, name)
				v := reflect.New(reflect.TypeOf(p.now))
				if full {
					fill(v.Elem(), new(int))
				}
				if got := marshal(t, v.Interface()); string(got) != want {
					t.Errorf("\n got %s\nwant %s", got, want)
				}
			})
		}
	}
	for name := range golden {
		t.Errorf("%s: line %q has no payload", encodingGolden, name)
	}
}

// TestFillSetsEveryField: the filled value of each payload has no zero
// field at any depth, so that a field added to a payload shows in its
// "full" line and fails TestEncodingUnchanged until the line names it.
func TestFillSetsEveryField(t *testing.T) {
	for _, p := range payloads {
		v := reflect.New(reflect.TypeOf(p.now)).Elem()
		fill(v, new(int))
		for _, path := range zeroFields(v, reflect.TypeOf(p.now).Name()) {
			t.Errorf("%s: %s is zero when filled", p.typ, path)
		}
	}
}

// zeroFields are the paths of the exported fields of v, at any depth,
// that hold their zero value.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		return zeroFields(v.Elem(), path)
	case reflect.Slice:
		var out []string
		for i := range v.Len() {
			out = append(out, zeroFields(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			break
		}
		var out []string
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				out = append(out, zeroFields(v.Field(i), path+"."+f.Name)...)
			}
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// readGolden reads a golden file of "NAME\tJSON" lines.
func readGolden(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for line := range strings.Lines(string(data)) {
		name, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok || out[name] != "" {
			t.Fatalf("%s: bad or repeated line %q", path, line)
		}
		out[name] = value
	}
	return out
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
