package ca

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/clip"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
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
	if ev.Type != event.TypeCertRefused {
		t.Fatalf("recorded %s, want %s", ev.Type, event.TypeCertRefused)
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

// TestRefusalClipsRequestedIdentity: an agent name or run id refused for
// its length is recorded clipped.
func TestRefusalClipsRequestedIdentity(t *testing.T) {
	a, rec := newTestAuthority(t)
	id := alice()
	id.Agent, id.RunID = strings.Repeat("a", 30000), strings.Repeat("r", 30000)
	if _, err := a.Issue(context.Background(), Request{Identity: id, PublicKey: ed25519Pub(t), Source: SourceOIDC}); err == nil {
		t.Fatal("Issue accepted a 30000-byte agent name")
	}
	ev := rec.last(t)
	if ev.Type != event.TypeCertRefused || len(ev.Raw) > 4<<10 {
		t.Fatalf("recorded %s of %d bytes, want a bounded refusal", ev.Type, len(ev.Raw))
	}
	got, _ := ev.Data["identity"].(map[string]any)
	if agent, _ := got["agent"].(string); !strings.Contains(agent, "clipped from 30000 bytes") {
		t.Errorf("agent recorded as %.80q", agent)
	}
}

// TestAPIRefusalWithoutTokenClipsGrants: a caller with no valid token
// cannot have a 64 KiB list of grants recorded.
func TestAPIRefusalWithoutTokenClipsGrants(t *testing.T) {
	f := newAPIFixture(t)
	grants := make([]string, 2000)
	for i := range grants {
		grants[i] = "orders:" + strings.Repeat("x", 20)
	}
	resp, body := f.post(t, "forged", map[string]any{"public_key": pubLine(t), "grants": grants})
	if resp.StatusCode != 401 {
		t.Fatalf("forged token: %d %s", resp.StatusCode, body)
	}
	ev := f.rec.last(t)
	if got, _ := ev.Data["grants"].([]any); ev.Type != event.TypeCertRefused || len(got) != clip.ListMax+1 || len(ev.Raw) > 4<<10 {
		t.Errorf("recorded %s with %d grants in %d bytes, want %d and a count of the rest", ev.Type, len(got), len(ev.Raw), clip.ListMax+1)
	}
}
