package pgsession

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// TestDBSessionLimits: sessions are counted per certificate on a target
// and per target, across callers; a refusal is 53300 and names the
// setting; a release frees exactly one slot, however often it is called.
func TestDBSessionLimits(t *testing.T) {
	var d dbSessions
	type step struct {
		target, cert string
		want         string // "" ok, else a part of the refusal
	}
	var releases []func()
	steps := []step{
		{"orders", "a", ""},
		{"orders", "a", ""},
		{"orders", "a", "max_sessions_per_certificate"}, // per certificate: 2
		{"orders", "b", ""},
		{"orders", "c", "targets.orders.max_sessions"}, // per target: 3
		{"billing", "a", ""},                           // another target counts apart
	}
	for i, s := range steps {
		release, err := d.acquire(s.target, s.cert, 3, 2)
		if s.want == "" {
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			releases = append(releases, release)
			continue
		}
		var pe *pgwire.Error
		if err == nil || !errors.As(err, &pe) || pe.Code != "53300" || !strings.Contains(pe.Message, s.want) {
			t.Fatalf("step %d: got %v, want a 53300 refusal naming %s", i, err, s.want)
		}
	}
	releases[0]()
	releases[0]() // twice: still one slot
	if _, err := d.acquire("orders", "a", 3, 2); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := d.acquire("orders", "c", 3, 2); err == nil {
		t.Fatal("a double release freed two slots")
	}
	for _, r := range releases[1:] {
		r()
	}
}
