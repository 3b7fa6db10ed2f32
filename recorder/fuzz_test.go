package recorder

import (
	"bytes"
	"testing"
)

// FuzzVerifyChain feeds arbitrary recordings to the verifier: it must never
// panic, and whatever it accepts must be a well-formed chain.
func FuzzVerifyChain(f *testing.F) {
	f.Add([]byte(`{"v":1,"stream":"s","seq":0,"time":"2026-11-26T03:00:00Z","type":"x","prev":"` + GenesisHash + `"}`))
	f.Add([]byte("{}\n{}"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Split(data, []byte("\n"))
		events, err := VerifyChain(lines)
		if err == nil && len(events) != len(lines) {
			t.Fatalf("accepted %d lines but returned %d events", len(lines), len(events))
		}
		for i, ev := range events {
			if ev.Seq != uint64(i) {
				t.Fatalf("accepted event %d with seq %d", i, ev.Seq)
			}
		}
	})
}
