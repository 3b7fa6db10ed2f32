package evidence

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBuildDeterministic: the same parameters on the same recordings
// give byte-identical data files; only the manifest's producer and
// production time differ.
func TestBuildDeterministic(t *testing.T) {
	f := newFixture(t)
	first := unzip(t, f.build(t, f.opts))
	again := f.opts
	again.Producer, again.Now = "someone-else@elsewhere", f.opts.Now.Add(time.Hour)
	second := unzip(t, f.build(t, again))
	if len(first) != len(second) {
		t.Fatalf("%d files, then %d", len(first), len(second))
	}
	for i := range first {
		a, b := first[i], second[i]
		switch {
		case a.name != b.name:
			t.Fatalf("file %d is %s, then %s", i, a.name, b.name)
		case a.name == ManifestFile || a.name == SignatureFile:
		case !bytes.Equal(a.data, b.data):
			t.Errorf("%s differs between two builds", a.name)
		}
	}
	var m1, m2 Manifest
	mustUnmarshal(t, fileData(t, first, ManifestFile), &m1)
	mustUnmarshal(t, fileData(t, second, ManifestFile), &m2)
	m2.Producer, m2.ProducedAt = m1.Producer, m1.ProducedAt
	j1, _ := json.Marshal(m1)
	j2, _ := json.Marshal(m2)
	if !bytes.Equal(j1, j2) {
		t.Errorf("the manifests differ beyond producer and time:\n%s\n%s", j1, j2)
	}
}

// TestBuildPopulations: each population holds the period's rows, and
// the manifest counts them.
func TestBuildPopulations(t *testing.T) {
	f := newFixture(t)
	files := unzip(t, f.build(t, f.opts))
	var m Manifest
	mustUnmarshal(t, fileData(t, files, ManifestFile), &m)
	want := map[string]int{"sessions": 3, "statements": 3, "denials": 5, "verification": 3, "issuances": 4, "requests": 3}
	for noun, rows := range want {
		for _, ext := range []string{".csv", ".jsonl"} {
			if got := manifestRows(m, noun+ext); got != rows {
				t.Errorf("manifest: %s%s has %d rows, want %d", noun, ext, got, rows)
			}
		}
		if got := len(jsonLines(t, fileData(t, files, noun+".jsonl"))); got != rows {
			t.Errorf("%s.jsonl holds %d lines, want %d", noun, got, rows)
		}
	}
	denials := string(fileData(t, files, "denials.jsonl"))
	for _, typ := range []string{`"db.statement"`, `"channel.refused"`, `"auth.failure"`, `"cert.refused"`} {
		if !strings.Contains(denials, typ) {
			t.Errorf("denials.jsonl holds no %s:\n%s", typ, denials)
		}
	}
	verification := string(fileData(t, files, "verification.csv"))
	for _, line := range []string{",ok,intact,verified,complete,", ",incomplete,intact,partial,incomplete,"} {
		if !strings.Contains(verification, line) {
			t.Errorf("verification.csv has no row with %q:\n%s", line, verification)
		}
	}
	if m.Parameters.From != "2026-11-26T00:00:00Z" || m.Parameters.To != "2026-11-27T00:00:00Z" || len(m.Parameters.Args) != 4 {
		t.Errorf("parameters %+v", m.Parameters)
	}
	if m.SignedBy == "" || len(m.Source.RecorderKeys) != 1 || m.Source.RecorderKeys[0].Fingerprint != m.SignedBy {
		t.Errorf("source %+v, signed by %q", m.Source, m.SignedBy)
	}
}

// TestBuildScope: --identity and --target narrow the sessions, their
// statements and denials.
func TestBuildScope(t *testing.T) {
	tests := []struct {
		name                string
		identities, targets []string
		sessions, denials   int
	}{
		{"identity", []string{"alice@example.com"}, nil, 1, 2},
		{"refused certificate of an identity", []string{"mallory@example.com"}, nil, 0, 1},
		{"target", nil, []string{"billing"}, 1, 1},
		{"target of a refused certificate", nil, []string{"orders"}, 1, 3},
	}
	f := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.opts
			opts.Scope.Identities, opts.Scope.Targets = tt.identities, tt.targets
			files := unzip(t, f.build(t, opts))
			if got := len(jsonLines(t, fileData(t, files, "sessions.jsonl"))); got != tt.sessions {
				t.Errorf("%d sessions, want %d", got, tt.sessions)
			}
			if got := len(jsonLines(t, fileData(t, files, "denials.jsonl"))); got != tt.denials {
				t.Errorf("%d denials, want %d", got, tt.denials)
			}
		})
	}
}

// TestBuildCSVFormulaSafe: a statement text a spreadsheet would run is
// neutralised in the CSV, and exact in the JSON Lines.
func TestBuildCSVFormulaSafe(t *testing.T) {
	f := newFixture(t)
	files := unzip(t, f.build(t, f.opts))
	for _, name := range []string{"statements.csv", "denials.csv", "requests.csv"} {
		csvText := string(fileData(t, files, name))
		if !strings.Contains(csvText, `'`+formulaText) && !strings.Contains(csvText, `"'=HYPERLINK`) {
			t.Errorf("%s does not neutralise %q:\n%s", name, formulaText, csvText)
		}
		if strings.Contains(csvText, ","+formulaText) || strings.Contains(csvText, `,"`+formulaText) {
			t.Errorf("%s holds %q as a formula:\n%s", name, formulaText, csvText)
		}
	}
	var found bool
	for _, line := range jsonLines(t, fileData(t, files, "statements.jsonl")) {
		found = found || line["text"] == formulaText
	}
	if !found {
		t.Errorf("statements.jsonl lacks the exact text %q", formulaText)
	}
}

// TestBuildWritesPlainNames: every entry Build writes is a plain file
// name, as VerifyBundle requires.
func TestBuildWritesPlainNames(t *testing.T) {
	f := newFixture(t)
	for _, file := range unzip(t, f.build(t, f.opts)) {
		if !safeName(file.name) || strings.Contains(file.name, "..") {
			t.Errorf("Build wrote an entry named %q", file.name)
		}
	}
}

func TestBuildNeedsKeys(t *testing.T) {
	f := newFixture(t)
	opts := f.opts
	opts.Signer = nil
	if _, err := Build(&bytes.Buffer{}, f.src, opts); err == nil {
		t.Error("Build without a signing key succeeded")
	}
}

func manifestRows(m Manifest, name string) int {
	for _, f := range m.Files {
		if f.Name == name {
			return f.Rows
		}
	}
	return -1
}

func jsonLines(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var v map[string]any
		mustUnmarshal(t, line, &v)
		out = append(out, v)
	}
	return out
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}
