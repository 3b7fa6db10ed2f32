package recorder

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSummarizeSession(t *testing.T) {
	r := newRecording(t)
	s := Summarize(r.id, r.lines)
	switch {
	case s.ChainError != nil:
		t.Fatal(s.ChainError)
	case s.Identity != "alice@example.com via agent:claude-code" || s.Agent != "claude-code" || s.Serial != 42:
		t.Errorf("identity %+v", s)
	case s.Channels != 1 || s.Statements != 2 || s.Denied != 1 || s.Refusals != 4:
		t.Errorf("counts %+v", s)
	case s.Open() || s.EndReason != "client disconnected" || len(s.Targets) != 1:
		t.Errorf("end %+v", s)
	}
}

func TestFilter(t *testing.T) {
	start := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	clean := Summary{Identity: "bob@example.com", Start: start, End: start.Add(time.Minute), Targets: []string{"orders"}}
	refused := Summary{Identity: "alice@example.com via agent:claude-code", Agent: "claude-code", Start: start.Add(time.Hour), Refusals: 1}
	open := Summary{Identity: "carol@example.com", Start: start.Add(2 * time.Hour), Targets: []string{"billing"}}
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"bob", "alice", "carol"}},
		{"identity", Filter{Identity: "alice"}, []string{"alice"}},
		{"agent", Filter{Agent: "claude-code"}, []string{"alice"}},
		{"target", Filter{Target: "billing"}, []string{"carol"}},
		{"since", Filter{Since: start.Add(time.Hour)}, []string{"alice", "carol"}},
		{"until", Filter{Until: start.Add(time.Hour)}, []string{"bob"}},
		{"refused", Filter{Outcome: OutcomeRefused}, []string{"alice"}},
		{"open", Filter{Outcome: OutcomeOpen}, []string{"alice", "carol"}},
		{"clean", Filter{Outcome: OutcomeClean}, []string{"bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range []Summary{clean, refused, open} {
				if tt.f.Match(s) {
					got = append(got, s.Identity[:3])
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("matched %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i][:3] {
					t.Fatalf("matched %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestIDTime(t *testing.T) {
	at := time.Date(2026, 1, 26, 9, 15, 0, 0, time.UTC)
	if got, ok := IDTime(NewID(at)); !ok || !got.Equal(at) {
		t.Fatalf("IDTime = %s, %v", got, ok)
	}
	if _, ok := IDTime("nonsense"); ok {
		t.Fatal("IDTime accepted nonsense")
	}
}

// TestFilterMayMatch: a session is skipped by its id only when its start
// cannot be in range: before Since by more than the lag, or at or after
// Until; an id without a time is always read.
func TestFilterMayMatch(t *testing.T) {
	since := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f := Filter{Since: since, Until: since.Add(time.Hour)}
	id := func(t time.Time) string { return t.UTC().Format(idTimeLayout) + "-8b38b4d9d91e" }
	lag := 30 * time.Second
	tests := []struct {
		id   string
		want bool
	}{
		{id(since), true},
		{id(since.Add(-lag)), true},                    // accepted earlier, authenticated at Since
		{id(since.Add(-lag - time.Second)), true},      // the id is to the second
		{id(since.Add(-lag - 2*time.Second)), false},   // could not have started at Since
		{id(since.Add(time.Hour - time.Second)), true}, // just before Until
		{id(since.Add(time.Hour)), false},              // at Until: started at or after it
		{"not-a-time", true},
	}
	for _, tt := range tests {
		if got := f.MayMatch(tt.id, lag); got != tt.want {
			t.Errorf("MayMatch(%s) = %v, want %v", tt.id, got, tt.want)
		}
	}
	if !(Filter{}).MayMatch(id(since.Add(-24*time.Hour)), lag) {
		t.Error("a filter without times skipped a session")
	}
}

// failingLines is a store whose stream bad cannot be read.
type failingLines struct {
	FileStore
	bad string
}

func (s failingLines) List(kind string) ([]string, error) {
	ids, err := s.FileStore.List(kind)
	return append(ids, s.bad), err
}

func (s failingLines) Lines(kind, id string) ([][]byte, error) {
	if id == s.bad {
		return nil, errors.New("chunk 3 missing")
	}
	return s.FileStore.Lines(kind, id)
}

// TestSummaries: a session that cannot be read is listed whatever the
// filter; the others as the filter says; with keys, each is verified.
func TestSummaries(t *testing.T) {
	r := newRecording(t)
	src := failingLines{FileStore: r.store, bad: "20261126T030000Z-000000000000"}
	for _, tc := range []struct {
		name   string
		f      Filter
		keys   bool
		listed int
	}{
		{"all", Filter{}, false, 2},
		{"filtered out", Filter{Target: "nowhere"}, false, 1},
		{"verified", Filter{}, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keys []ed25519.PublicKey
			if tc.keys {
				keys = append(keys, testPub())
			}
			got, err := Summaries(src, tc.f, 0, keys...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.listed {
				t.Fatalf("listed %d, want %d: %+v", len(got), tc.listed, got)
			}
			bad := got[len(got)-1]
			if bad.ID != src.bad || bad.Unreadable == nil || !strings.Contains(bad.Unreadable.Error(), "chunk 3") {
				t.Errorf("unreadable session listed as %+v", bad)
			}
			if tc.listed == 2 {
				good := got[0]
				if good.ID != r.id || good.Identity == "" || good.Verified != tc.keys || good.Verification != nil {
					t.Errorf("session listed as %+v", good)
				}
			}
		})
	}
}
