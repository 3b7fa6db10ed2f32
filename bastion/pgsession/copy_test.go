package pgsession

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy/masking"
)

func testCopyPlan(t testing.TB, csv, header bool) *copyPlan {
	masker, err := masking.NewMasker(make([]byte, masking.MinHashKeySize))
	if err != nil {
		t.Fatal(err)
	}
	// id, email (email), ssn (redact), note
	return &copyPlan{csv: csv, header: header, masker: masker, masks: []masking.Func{"", "email", "redact", ""}}
}

func TestCopyRowText(t *testing.T) {
	p := testCopyPlan(t, false, true)
	rows := []struct{ in, want string }{
		{"id\temail\tssn\tnote\n", "id\temail\tssn\tnote\n"}, // the header passes
		{"1\tada@example.com\t123-45-6789\thello\\tworld\n", "1\ta***@example.com\t****\thello\\tworld\n"},
		{"2\t\\N\t\\N\t\\N\n", "2\t\\N\t\\N\t\\N\n"},                            // NULLs stay NULL
		{"3\tweird\\\\\\tname\t1\\0612\tx\n", "3\t****\t****\tx\n"},             // escapes read, not an address
		{"4\tada@example.com\n", "\\N\t\\N\t\\N\t\\N\n"},                        // too few columns: all NULL
		{"5\tada@example.com\t1\tx\ty\n", "\\N\t\\N\t\\N\t\\N\n"},               // too many
		{"6\tada@example.com\t123-45-6789\tno newline", "\\N\t\\N\t\\N\t\\N\n"}, // not a whole row
	}
	for _, r := range rows {
		if got := string(p.row(nil, []byte(r.in))); got != r.want {
			t.Errorf("%q: got %q, want %q", r.in, got, r.want)
		}
	}
}

func TestCopyRowCSV(t *testing.T) {
	p := testCopyPlan(t, true, false)
	rows := []struct{ in, want string }{
		{"1,ada@example.com,123-45-6789,hello\n", `1,"a***@example.com","****",hello` + "\n"},
		{"2,,\"\",\"a,b\"\n", `2,,"****","a,b"` + "\n"},                                            // NULL stays NULL; "" is a value
		{"3,\"ada@example.com\",\"12\"\"3\nx\",note\n", `3,"a***@example.com","****",note` + "\n"}, // quotes and a newline inside
		{"4,\"unterminated,x,y\n", ",,,\n"},
		{"5,a,b\n", ",,,\n"},
	}
	for _, r := range rows {
		if got := string(p.row(nil, []byte(r.in))); got != r.want {
			t.Errorf("%q: got %q, want %q", r.in, got, r.want)
		}
	}
}

func TestUnescapeText(t *testing.T) {
	got, err := unescapeText([]byte(`a\\b\tc\nd\x41\101\q`))
	if err != nil || string(got) != "a\\b\tc\nd"+"AA"+"q" {
		t.Fatalf("%q, %v", got, err)
	}
	if _, err := unescapeText([]byte(`ends\`)); err == nil {
		t.Fatal("a trailing backslash was accepted")
	}
	if got := string(appendTextEscaped(nil, []byte("a\\b\tc\nd"))); got != `a\\b\tc\nd` {
		t.Fatalf("escaped %q", got)
	}
}

// FuzzCopyRow: a row never makes the plan panic, and the masked columns'
// values never come out: a secret in the email or ssn column is gone from
// the output whatever the rest of the row is.
func FuzzCopyRow(f *testing.F) {
	for _, s := range []string{"1", "a\tb", "x,\"y\"", "\\N", "\"\"\"\"", "\\x41\\101"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, noise string, csv bool) {
		p := testCopyPlan(t, csv, false)
		const secret = "SECRETVALUE"
		var row string
		if csv {
			row = noise + ",\"" + secret + "@example.com\",\"" + secret + "\"," + "n\n"
		} else {
			row = noise + "\t" + secret + "@example.com\t" + secret + "\tn\n"
		}
		out := string(p.row(nil, []byte(row)))
		if strings.Contains(out, secret) && !strings.Contains(noise, secret) {
			t.Fatalf("%q came out as %q", row, out)
		}
		p.row(nil, []byte(noise))
	})
}
