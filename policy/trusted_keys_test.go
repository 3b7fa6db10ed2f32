package policy

import (
	"strings"
	"testing"
	"time"
)

// TestTrustedKeys: recording.trusted_keys takes a key (or file) as a
// string or as a mapping with not_after; an empty key, a not_after that
// is not a time and an unknown field are refused naming the line.
func TestTrustedKeys(t *testing.T) {
	base := "data_dir: /x\nrecording:\n  trusted_keys:\n"
	notAfter := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	cfg, err := Parse([]byte(base + "    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA old\n" +
		"    - {key: recorder-2026q1.pub, not_after: 2026-04-01T00:00:00Z}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Recording.TrustedKeys
	if len(got) != 2 || !got[0].IsInline() || got[0].NotAfter != nil || got[1].Key != "recorder-2026q1.pub" || got[1].IsInline() ||
		got[1].NotAfter == nil || !got[1].NotAfter.Equal(notAfter) {
		t.Fatalf("trusted_keys = %+v", got)
	}
	for _, tt := range []struct{ entry, want string }{
		{"    - {key: '', not_after: 2026-04-01}\n", "recording.trusted_keys[0]: no key"},
		{"    - {key: old.pub, not_after: soon}\n", `line 4: not_after: "soon" is not a time`},
		{"    - {key: old.pub, not_before: 2026-04-01}\n", "line 4: field not_before not found in a trusted key"},
		{"    - [old.pub]\n", "line 4: a trusted key is a public key"},
	} {
		if _, err := Parse([]byte(base + tt.entry)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.entry, err, tt.want)
		}
	}
}
