package recorder

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"", ""},
		{`a\b 'x' "y" é 日本 🙂`, `a\b 'x' "y" é 日本 🙂`},
		{"\x1b[2K\rALLOW", `\x1b[2K\x0dALLOW`},
		{"one\ntwo\tthree", `one\x0atwo\x09three`},
		{"\x00\x7f", `\x00\x7f`},
		{"\u0085\u009b", `\u0085\u009b`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"\u2066x\u2069\u200e\u200f\u061c", `\u2066x\u2069\u200e\u200f\u061c`},
		{"zero\u200bwidth\u200d\ufeff\u2060", `zero\u200bwidth\u200d\ufeff\u2060`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"nb\u00a0sp\u3000", `nb\u00a0sp\u3000`},
		{"tag\U000e0041", `tag\U000e0041`},
		{"private\ue000", `private\ue000`},
		{"filler\u3164\u115f", `filler\u3164\u115f`},
		{"\xff\xfe", `\xff\xfe`},
		{"a\xc3", `a\xc3`},
		{"\ufffd", `\ufffd`},
	}
	for _, tt := range tests {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzPrintable: whatever the text, what Printable gives holds nothing a
// terminal would act on or hide (checkPrintable), and plain text is
// shown as it is.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"SELECT 1", "\x1b]0;title\x07", "\u202e\u2066", "\xff", "DENY\rALLOW\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Printable(s)
		checkPrintable(t, got)
		if !strings.ContainsFunc(s, needsEscape) && utf8.ValidString(s) && got != s {
			t.Fatalf("plain %q shown as %q", s, got)
		}
	})
}

// checkPrintable fails unless s is valid UTF-8 of visible characters and
// ASCII spaces only: no control, format, separator or invisible character.
func checkPrintable(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("output is not valid UTF-8: %q", s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) || invisibleLetters[r] || r == utf8.RuneError {
			t.Fatalf("output holds %U: %q", r, s)
		}
	}
}

// FuzzDescribe: whatever text an event carries, in whichever field of
// whichever type, Describe's line is Printable.
func FuzzDescribe(f *testing.F) {
	f.Add("db.statement", "DELETE\x1b[2K\rALLOW")
	f.Add("channel.refused", "orders\u202e")
	f.Fuzz(func(t *testing.T, typ, s string) {
		fields := map[string]any{}
		for _, k := range []string{"text", "host", "reason", "client_version", "client_addr", "name", "key_id", "user", "method", "detail", "type", "target", "error", "rule", "decision"} {
			fields[k] = s
		}
		fields["masked"] = []string{s}
		fields["principals"] = []string{s}
		data, _ := Marshal(fields)
		for _, ty := range []event.Type{event.Type(typ), "db.statement", "session.start", "auth.failure", "auth.success", "channel.open", "channel.refused", "channel.close", "request.refused", "session.end", "checkpoint"} {
			checkPrintable(t, Describe(Event{Type: ty, Data: data}))
			checkPrintable(t, Describe(Event{Type: ty, Data: []byte(s)}))
		}
	})
}

// TestCSVCell: what the console's exports and the evidence bundle write
// in a CSV cell cannot run as a formula, and shows controls escaped.
func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1":               "'=1+1",
		"+1":                 "'+1",
		"-1":                 "'-1",
		"@A1":                "'@A1",
		"\tx":                `\x09x`,
		"\r=x":               `\x0d=x`,
		"plain":              "plain",
		"":                   "",
		"a=b":                "a=b",
		"\u202e=cmd":         `\u202e=cmd`,
		"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0",
	} {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}
