package sqlkind

import (
	"slices"
	"testing"
)

func TestWrites(t *testing.T) {
	reads := []Kind{Select, CopyTo, Explain, Show, Set, Transaction, Prepare, Execute, ListenNotify}
	for _, k := range Known {
		if got, want := k.Writes(), !slices.Contains(reads, k); got != want {
			t.Errorf("%s.Writes() = %v, want %v", k, got, want)
		}
	}
	if All.Writes() || Kind("nonsense").Writes() {
		t.Error("all or an unknown kind said to write: Writes must answer for classified kinds only")
	}
}

func TestKnownHasEveryKindOnce(t *testing.T) {
	seen := map[Kind]bool{}
	for _, k := range Known {
		if seen[k] || k == "" || k == All {
			t.Errorf("Known: %q repeated, empty or all", k)
		}
		seen[k] = true
	}
	if len(Known) != 24 {
		t.Errorf("Known has %d kinds, want the 24 DESIGN.md lists", len(Known))
	}
	if got := Strings([]Kind{Select, Other}); !slices.Equal(got, []string{"select", "other"}) || Strings(nil) != nil {
		t.Errorf("Strings = %q", got)
	}
}
