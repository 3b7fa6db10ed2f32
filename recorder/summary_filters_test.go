package recorder

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestSummarizeHumanRolesMasked: Summarize takes the vouching human (the
// delegating human of an agent), each database role once, and counts the
// statements with masked columns.
func TestSummarizeHumanRolesMasked(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	s := recordEvents(t, signedRecorder(store, clock, 100), clock, []sessionEvent{
		{event.TypeSessionStart, 0, event.SessionStart{ClientAddr: "10.0.0.1:1"}},
		{event.TypeAuthSuccess, 0, event.AuthSuccess{KeyFacts: event.KeyFacts{KeyID: "alice@example.com via agent:bot"},
			Identity: event.Identity{Email: "bot@agents", Agent: "bot", DelegatedBy: "alice@example.com"}}},
		{event.TypeDBSessionStart, 0, event.DBSessionStart{Channel: 1, Target: "orders", Role: "reader"}},
		{event.TypeDBSessionStart, 0, event.DBSessionStart{Channel: 2, Target: "orders", Role: "reader"}},
		{event.TypeDBSessionStart, 0, event.DBSessionStart{Channel: 3, Target: "billing", Role: "writer"}},
		{event.TypeDBStatement, 0, event.DBStatement{Channel: 1, Text: "SELECT email FROM people", Decision: event.Allow,
			Masked: []string{"email:mask.email"}}},
		{event.TypeDBStatement, 0, event.DBStatement{Channel: 1, Text: "SELECT 1", Decision: event.Allow}},
	})
	lines, err := store.Lines(KindSession, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := Summarize(s.ID, lines)
	if got.Human != "alice@example.com" || !slices.Equal(got.Roles, []string{"orders:reader", "billing:writer"}) || got.Masked != 1 {
		t.Errorf("human %q, roles %q, masked %d", got.Human, got.Roles, got.Masked)
	}
}

// TestFilterSessionFacts: each of Filter's human, role, decision,
// denials, masked and verification selects the sessions it names, and
// only those.
func TestFilterSessionFacts(t *testing.T) {
	human := Listed{Summary: Summary{ID: "human", Human: "alice@example.com", Roles: []string{"orders:reader"}, Statements: 2, Masked: 1},
		Verified: true}
	agent := Listed{Summary: Summary{ID: "agent", Human: "alice@example.com", Agent: "bot", Roles: []string{"orders:writer", "billing:reader"},
		Statements: 1, Denied: 1, Refusals: 1}, Verified: true, Verification: errors.New("signature does not verify")}
	refused := Listed{Summary: Summary{ID: "refused", Refusals: 2}, Verified: true, Verification: &VerifyError{Incomplete: true}}
	bob := Listed{Summary: Summary{ID: "bob", Human: "bob@example.com", Statements: 3, Denied: 1, Refusals: 1, Masked: 2}}
	tests := []struct {
		f    Filter
		want []string
	}{
		{Filter{}, []string{"human", "agent", "refused", "bob"}},
		{Filter{Human: "alice@example.com"}, []string{"human", "agent"}},
		{Filter{Human: "alice"}, nil}, // exactly, not a substring
		{Filter{Role: "reader"}, []string{"human", "agent"}},
		{Filter{Role: "writer"}, []string{"agent"}},
		{Filter{Role: "orders"}, nil}, // a target is not a role
		{Filter{Decision: "allow"}, []string{"human", "bob"}},
		{Filter{Decision: "deny"}, []string{"agent", "bob"}},
		{Filter{Denials: Yes}, []string{"agent", "refused", "bob"}},
		{Filter{Denials: No}, []string{"human"}},
		{Filter{Masked: Yes}, []string{"human", "bob"}},
		{Filter{Masked: No}, []string{"agent", "refused"}},
		{Filter{Verification: VerificationVerified}, []string{"human"}},
		{Filter{Verification: VerificationFailed}, []string{"agent"}},
		{Filter{Verification: VerificationIncomplete}, []string{"refused"}},
		{Filter{Human: "alice@example.com", Decision: "deny", Masked: No}, []string{"agent"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.f), func(t *testing.T) {
			var got []string
			for _, l := range []Listed{human, agent, refused, bob} {
				if tt.f.MatchListed(l) {
					got = append(got, l.ID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("matched %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFilterVerificationNeedsListed: Match, given only a Summary, leaves
// Verification to MatchListed; a session not verified has none.
func TestFilterVerificationNeedsListed(t *testing.T) {
	f := Filter{Verification: VerificationVerified}
	if !f.Match(Summary{ID: "x"}) {
		t.Error("Match judged the verification it cannot see")
	}
	if f.MatchListed(Listed{Summary: Summary{ID: "x"}}) {
		t.Error("a session not verified matched verification=verified")
	}
}
