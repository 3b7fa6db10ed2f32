package pgwire

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestOnCancel: a CancelRequest is told to OnCancel before it is
// forwarded, with the target the key names, or unmatched when the key
// names nothing (a probe); an OnCancel error keeps it from being
// forwarded.
func TestOnCancel(t *testing.T) {
	registry := &CancelRegistry{}
	forwarded := 0
	key, forget := registry.register(4242, func(context.Context) error { forwarded++; return nil }, "session-B")
	defer forget()
	request := func(pid uint32, secret []byte) []byte {
		return append([]byte{0, 0, 0, 16, 4, 210, 22, 46}, append(be32(pid), secret...)...)
	}
	tests := []struct {
		name      string
		packet    []byte
		refuse    error
		want      CancelAttempt
		forwarded int
	}{
		{"matched", request(key.ProcessID, key.SecretKey), nil, CancelAttempt{ProcessID: key.ProcessID, Matched: true, Target: "session-B"}, 1},
		{"wrong secret", request(key.ProcessID, []byte{0, 0, 0, 0}), nil, CancelAttempt{ProcessID: key.ProcessID}, 0},
		{"unknown key", request(key.ProcessID^1, key.SecretKey), nil, CancelAttempt{ProcessID: key.ProcessID ^ 1}, 0},
		{"not recorded", request(key.ProcessID, key.SecretKey), errors.New("recording failed"), CancelAttempt{ProcessID: key.ProcessID, Matched: true, Target: "session-B"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forwarded = 0
			var got []CancelAttempt
			cfg := Config{
				Authorize: func(context.Context, Startup) (*Upstream, error) { return nil, errors.New("no start-up expected") },
				Inspect:   policyDenyingDelete, Cancels: registry, HandshakeTimeout: time.Second,
				Logger:   slog.New(slog.DiscardHandler),
				OnCancel: func(a CancelAttempt) error { got = append(got, a); return tt.refuse },
			}
			err := Serve(context.Background(), &memConn{r: bytes.NewReader(tt.packet)}, cfg)
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("OnCancel told %+v, want %+v", got, tt.want)
			}
			if forwarded != tt.forwarded || (tt.refuse != nil) != (err != nil) {
				t.Fatalf("forwarded %d times (want %d), Serve: %v", forwarded, tt.forwarded, err)
			}
		})
	}
}

// TestCancelRegistrySharedPID: sessions on different servers may have the
// same backend process id; each key cancels its own session only, and
// forgetting one leaves the other.
func TestCancelRegistrySharedPID(t *testing.T) {
	var r CancelRegistry
	var hit []string
	a, forgetA := r.register(77, func(context.Context) error { hit = append(hit, "a"); return nil }, "a")
	b, forgetB := r.register(77, func(context.Context) error { hit = append(hit, "b"); return nil }, "b")
	defer forgetB()
	if a.ProcessID != 77 || b.ProcessID != 77 || string(a.SecretKey) == string(b.SecretKey) {
		t.Fatalf("keys %d/%x and %d/%x", a.ProcessID, a.SecretKey, b.ProcessID, b.SecretKey)
	}
	for _, k := range []*pgproto3.BackendKeyData{b, a} {
		e, ok := r.lookup(k.ProcessID, k.SecretKey)
		if !ok {
			t.Fatalf("key %x not found", k.SecretKey)
		}
		e.cancel(context.Background())
	}
	if strings.Join(hit, ",") != "b,a" {
		t.Fatalf("cancelled %q, want b,a", hit)
	}
	forgetA()
	if _, ok := r.lookup(77, a.SecretKey); ok {
		t.Fatal("a forgotten key still cancels")
	}
	if e, ok := r.lookup(77, b.SecretKey); !ok || e.target != "b" {
		t.Fatal("forgetting one session's key lost the other's")
	}
}
