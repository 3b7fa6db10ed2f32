package ca

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/clip"
)

// TestRefusalClipsRequestedGrants: the grants a refused request asked
// for are recorded clipped, however many and however long: the caller
// may hold no valid token at all.
func TestRefusalClipsRequestedGrants(t *testing.T) {
	a, rec := newTestAuthority(t)
	grants := make([]string, 500)
	for i := range grants {
		grants[i] = "orders:" + strings.Repeat("x", 1000)
	}
	_, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Grants: grants, Source: SourceOIDC})
	if err == nil {
		t.Fatal("Issue accepted 500 unknown grants")
	}
	ev := rec.last(t)
	if ev.Type != EventRefused {
		t.Fatalf("recorded %s, want %s", ev.Type, EventRefused)
	}
	got, _ := ev.Data["grants"].([]any)
	if len(got) != clip.ListMax+1 {
		t.Errorf("recorded %d grants, want %d and a count of the rest", len(got), clip.ListMax+1)
	}
	if len(ev.Raw) > 16<<10 {
		t.Errorf("refusal event of %d bytes, want it bounded", len(ev.Raw))
	}
	if s, _ := ev.Data["reason"].(string); len(s) > clip.DetailMax+64 {
		t.Errorf("reason of %d bytes", len(s))
	}
}
