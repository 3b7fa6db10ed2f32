package ca

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

var revokedAt = time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)

func TestRevocationMatches(t *testing.T) {
	before, after := revokedAt.Add(-time.Hour), revokedAt.Add(time.Second)
	alice := CertFacts{Serial: 10, KeyID: "alice@example.com", KeyFingerprint: "SHA256:aaa", IssuedAt: before}
	aliceAgent := CertFacts{Serial: 11, KeyID: "alice@example.com via agent:claude", KeyFingerprint: "SHA256:bbb", DelegatedBySerial: 10, IssuedAt: before}
	aliceOtherAgent := CertFacts{Serial: 12, KeyID: "alice@example.com via agent:cursor", IssuedAt: before}
	aliceLater := CertFacts{Serial: 13, KeyID: "alice@example.com", IssuedAt: after}
	alicia := CertFacts{Serial: 14, KeyID: "alice@example.co", IssuedAt: before}
	bob := CertFacts{Serial: 15, KeyID: "bob@example.com", KeyFingerprint: "SHA256:aaa", IssuedAt: before}
	bobAgentOfAlice := CertFacts{Serial: 16, KeyID: "bob@example.com via agent:alice@example.com", IssuedAt: before}

	bySerial := Revocation{Serial: 10, RevokedAt: revokedAt}
	byKey := Revocation{Key: "SHA256:aaa", RevokedAt: revokedAt}
	byHuman := Revocation{Identity: "Alice@Example.com", RevokedAt: revokedAt}
	byAgent := Revocation{Identity: "alice@example.com via agent:claude", RevokedAt: revokedAt}
	tests := []struct {
		name  string
		r     Revocation
		f     CertFacts
		match bool
	}{
		{"serial: the certificate", bySerial, alice, true},
		{"serial: an agent it authorised", bySerial, aliceAgent, true},
		{"serial: another agent of the same person", bySerial, aliceOtherAgent, false},
		{"serial: a later certificate of the same person", bySerial, aliceLater, false},
		{"key: every certificate of the key", byKey, alice, true},
		{"key: whoever it was certified for", byKey, bob, true},
		{"key: other keys", byKey, aliceAgent, false},
		{"identity: the person, any case", byHuman, alice, true},
		{"identity: the person's agents", byHuman, aliceAgent, true},
		{"identity: every agent of the person", byHuman, aliceOtherAgent, true},
		{"identity: not certificates issued after", byHuman, aliceLater, false},
		{"identity: not a prefix", byHuman, alicia, false},
		{"identity: not someone else", byHuman, bob, false},
		{"identity: not an agent whose name is the person", byHuman, bobAgentOfAlice, false},
		{"agent identity: that agent", byAgent, aliceAgent, true},
		{"agent identity: not its human", byAgent, alice, false},
		{"agent identity: not another agent", byAgent, aliceOtherAgent, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Matches(tt.f); got != tt.match {
				t.Errorf("%s matches %+v = %v, want %v", tt.r, tt.f, got, tt.match)
			}
		})
	}
}

func TestRevocationValidate(t *testing.T) {
	fp := gossh.FingerprintSHA256(ed25519Pub(t))
	bad := []Revocation{
		{RevokedAt: revokedAt},
		{Serial: 1, Identity: "alice@example.com", RevokedAt: revokedAt},
		{Serial: 1},
		{Key: "MD5:00:11", RevokedAt: revokedAt},
		{Key: "SHA256:short", RevokedAt: revokedAt},
		{Identity: "alice\n", RevokedAt: revokedAt},
		{Serial: 1, Reason: "bad\x1b[2J", RevokedAt: revokedAt},
	}
	for _, r := range bad {
		if r.Validate() == nil {
			t.Errorf("%+v validated", r)
		}
	}
	for _, r := range []Revocation{{Serial: 1, RevokedAt: revokedAt}, {Key: fp, RevokedAt: revokedAt}, {Identity: "alice@example.com", RevokedAt: revokedAt, Reason: "laptop stolen"}} {
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

func TestRevocationList(t *testing.T) {
	path := filepath.Join(t.TempDir(), RevocationFile)
	l, err := OpenRevocationList(path)
	if err != nil {
		t.Fatalf("a missing list: %v", err)
	}
	a, _ := newTestAuthority(t)
	e := issueEngineer(t, a, time.Hour)
	if l.IsRevoked(e.cert) {
		t.Fatal("revoked by an empty list")
	}
	if err := AppendRevocation(path, Revocation{Serial: e.cert.Serial, RevokedAt: revokedAt, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if l.IsRevoked(e.cert) {
		t.Fatal("revoked before the list was read again")
	}
	if changed, err := l.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v; want a change", changed, err)
	}
	if !l.IsRevoked(e.cert) {
		t.Fatal("not revoked after Reload")
	}
	if changed, err := l.Reload(); changed || err != nil {
		t.Fatalf("Reload of an unchanged file = %v, %v", changed, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("list file: %v, %v; want mode 0600", info, err)
	}

	// A file that cannot be read keeps the entries read before.
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reload(); err == nil {
		t.Fatal("Reload of a corrupt file succeeded")
	}
	if !l.IsRevoked(e.cert) {
		t.Fatal("a corrupt file dropped the entries")
	}
	if err := AppendRevocation(path, Revocation{Serial: 1, RevokedAt: revokedAt}); err == nil {
		t.Fatal("appended to a corrupt list (and would have replaced it)")
	}
}

func TestAppendRevocationConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), RevocationFile)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := AppendRevocation(path, Revocation{Serial: uint64(i + 1), RevokedAt: revokedAt}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	l, err := OpenRevocationList(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.Entries()); n != 20 {
		t.Fatalf("%d entries after 20 concurrent appends", n)
	}
}

func TestRevocationListWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), RevocationFile)
	l, err := OpenRevocationList(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Watch(ctx, 10*time.Millisecond, slog.New(slog.DiscardHandler), func() { changed <- struct{}{} })
	}()
	defer func() { cancel(); <-done }()
	if err := AppendRevocation(path, Revocation{Identity: "alice@example.com", RevokedAt: revokedAt}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not notice the change")
	}
	if len(l.Entries()) != 1 {
		t.Fatalf("entries %v", l.Entries())
	}
}

// TestRevocationListKRL: the KRL served at GET /v1/krl revokes, in
// ssh-keygen's reading, what the list revokes.
func TestRevocationListKRL(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is not installed: run `make test-deps` (apt-get install -y openssh-client)")
	}
	a, rec := newTestAuthority(t)
	now := testNow
	eng := issueEngineer(t, a, time.Hour) // revoked by serial
	agentOfEng, err := a.IssueAgent(context.Background(), agentRequest(t, eng, eng.key, caapi.AgentNamespace, claimsFor(t, eng)))
	if err != nil {
		t.Fatal(err)
	}
	person := func(email string) *gossh.Certificate {
		id := alice()
		id.Email, id.Subject = email, "u-"+email
		c, err := a.Issue(context.Background(), Request{Identity: id, PublicKey: ed25519Pub(t), Source: SourceOIDC})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	bobs, bobByKey, untouched := person("bob@example.com"), person("bob@example.com"), person("bob@example.com")
	carols := person("carol@example.com")
	path := filepath.Join(t.TempDir(), RevocationFile)
	for _, r := range []Revocation{
		{Serial: eng.cert.Serial, RevokedAt: now},
		{Identity: "bob@example.com", RevokedAt: now.Add(-time.Second)}, // bob's certificates are all "issued" at now: not matched
		{Key: gossh.FingerprintSHA256(bobByKey.Key), RevokedAt: now},
	} {
		if err := AppendRevocation(path, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := AppendRevocation(path, Revocation{Identity: "carol@example.com", RevokedAt: now}); err != nil {
		t.Fatal(err)
	}
	l, err := OpenRevocationList(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := l.KRL(a.UserSigner.PublicKey(), issuedEvents(t, rec), now)
	if err != nil {
		t.Fatal(err)
	}
	krlFile := filepath.Join(t.TempDir(), "krl")
	if err := os.WriteFile(krlFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		cert    *gossh.Certificate
		revoked bool
	}{
		{"by serial", eng.cert, true},
		{"agent of a revoked serial, through the record", agentOfEng, true},
		{"by key", bobByKey, true},
		{"identity revoked before issuance", bobs, false},
		{"identity, through the record", carols, true},
		{"untouched", untouched, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := keygenRevoked(t, krlFile, tt.cert); got != tt.revoked {
				t.Errorf("ssh-keygen -Q: revoked = %v, want %v", got, tt.revoked)
			}
			if got := l.IsRevoked(tt.cert); got != tt.revoked {
				t.Errorf("IsRevoked = %v, want %v", got, tt.revoked)
			}
		})
	}
}

// issuedEvents are the cert.issued events recorded, as the CA's record
// would give them back.
func issuedEvents(t *testing.T, rec *fakeRecorder) []IssuedEvent {
	t.Helper()
	var out []IssuedEvent
	for _, ev := range rec.all() {
		if ev.Type != event.TypeCertIssued {
			continue
		}
		e, err := DecodeIssued(ev.Raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func keygenRevoked(t *testing.T, krlFile string, cert *gossh.Certificate) bool {
	t.Helper()
	certFile := filepath.Join(t.TempDir(), "cert.pub")
	if err := os.WriteFile(certFile, gossh.MarshalAuthorizedKey(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh-keygen", "-Q", "-f", krlFile, certFile).CombinedOutput()
	switch {
	case strings.Contains(string(out), "REVOKED"):
		return true
	case err == nil:
		return false
	}
	t.Fatalf("ssh-keygen -Q: %v\n%s", err, out)
	return false
}

func TestAgentKeyRevocations(t *testing.T) {
	at := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	agent := IssuedEvent{Serial: 7, KeyFingerprint: "SHA256:agent", Identity: event.Identity{Agent: "claude", DelegatedBySerial: 3}}
	human := IssuedEvent{Serial: 3, KeyFingerprint: "SHA256:human"}
	issued := []IssuedEvent{human, agent}
	tests := []struct {
		name string
		r    Revocation
		want []string // keys revoked
	}{
		{"an agent certificate's serial", Revocation{Serial: 7, RevokedAt: at}, []string{"SHA256:agent"}},
		{"an engineer's serial: its agents go by delegated_by_serial", Revocation{Serial: 3, RevokedAt: at}, nil},
		{"a serial the CA never issued", Revocation{Serial: 9, RevokedAt: at}, nil},
		{"an identity", Revocation{Identity: "alice@example.com", RevokedAt: at}, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, k := range AgentKeyRevocations(tt.r, issued) {
			if !strings.Contains(k.Reason, "the key of agent certificate serial 7") {
				t.Errorf("%s: reason %q does not say why", tt.name, k.Reason)
			}
			if !k.RevokedAt.Equal(at) {
				t.Errorf("%s: revoked at %s, want the serial's time", tt.name, k.RevokedAt)
			}
			got = append(got, k.Key)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: keys %v, want %v", tt.name, got, tt.want)
		}
	}
}
