package login

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

const agentTestPolicy = `
data_dir: /nonexistent
ca:
  max_ttl: 1h
  agent_max_ttl: 30m
targets:
  orders:
    protocol: postgres
    address: db.internal:5432
    roles:
      readonly: {}
      admin: {}
  rawpg:
    protocol: tcp
    address: db.internal:5433
    roles:
      direct: {}
grants:
  - groups: [engineering]
    allow: [orders:readonly, rawpg:direct]
`

type memRecorder struct {
	mu     sync.Mutex
	events []event.Type
}

func (r *memRecorder) Emit(typ event.Type, _ any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, typ)
	return nil
}

// realCA is package ca's API, in memory, with an engineer logged in to
// profile "alice" under home.
type realCA struct {
	authority *ca.Authority
	rec       *memRecorder
	home      string
	engineer  *ssh.Certificate
	revoked   atomic.Bool // every certificate is revoked
}

func newRealCA(t *testing.T, engineerTTL time.Duration) *realCA {
	t.Helper()
	cfg, err := policy.Parse([]byte(agentTestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	rc := &realCA{rec: &memRecorder{}, home: t.TempDir()}
	rc.authority = &ca.Authority{UserSigner: newSigner(t), HostSigner: newSigner(t), Policy: cfg, Record: rc.rec,
		IsRevoked: func(*ssh.Certificate) bool { return rc.revoked.Load() }}
	api := &ca.API{Authority: rc.authority}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)

	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(key.Public())
	id := policy.Identity{Subject: "u-1", Email: "alice@example.com", Issuer: "https://idp.example.com", Groups: []string{"engineering"}}
	rc.engineer, err = rc.authority.Issue(context.Background(), ca.Request{Identity: id, PublicKey: pub, TTL: engineerTTL, Source: ca.SourceOIDC})
	if err != nil {
		t.Fatal(err)
	}
	o := &Options{Server: srv.URL, Profile: "alice", Home: rc.home}
	info := &caapi.Info{
		SSHAddress: "127.0.0.1:2222", SSHHostAlias: "gatehouse",
		HostCAKnownHosts: ca.HostKnownHostsLine(rc.authority.HostSigner.PublicKey(), []string{"gatehouse"}),
	}
	if _, err := o.save(info, key, rc.engineer); err != nil {
		t.Fatal(err)
	}
	return rc
}

func (rc *realCA) agentCert(opts AgentOptions) (*AgentResult, error) {
	opts.Home, opts.Profile = rc.home, "alice"
	return AgentCert(context.Background(), opts)
}

func TestAgentCert(t *testing.T) {
	rc := newRealCA(t, time.Hour)
	var out strings.Builder
	res, err := rc.agentCert(AgentOptions{Agent: "claude", Grants: []string{"orders:readonly"}, TTL: 10 * time.Minute,
		RunID: "run-1", TicketID: "OPS-7", Out: &out})
	if err != nil {
		t.Fatalf("AgentCert: %v", err)
	}
	if res.KeyID != "alice@example.com via agent:claude" || !slices.Equal(res.Principals, []string{"orders:readonly"}) {
		t.Errorf("result %+v", res)
	}
	if life := res.ValidBefore.Sub(res.ValidAfter); life != 11*time.Minute { // 10m + the CA's 1m backdating
		t.Errorf("lifetime %s", life)
	}
	wantDir := filepath.Join(rc.home, ".gatehouse", "alice", "agents", "claude")
	if res.Dir != wantDir || res.SSHHost != "gatehouse-agent-claude" {
		t.Errorf("dir %s host %s", res.Dir, res.SSHHost)
	}
	for _, f := range []string{"id_ed25519", "id_ed25519.pub", "id_ed25519-cert.pub", "known_hosts", "ssh_config"} {
		st, err := os.Stat(filepath.Join(wantDir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v (want mode 0600)", f, st, err)
		}
	}
	cert, err := readCert(res.CertificateFile)
	if err != nil {
		t.Fatal(err)
	}
	id, err := policy.DecodeIdentity(cert.Extensions[policy.IdentityExtension])
	if err != nil {
		t.Fatal(err)
	}
	if id.Agent != "claude" || id.DelegatedBy != "alice@example.com" || id.RunID != "run-1" || id.TicketID != "OPS-7" || id.DelegatedBySerial != rc.engineer.Serial {
		t.Errorf("identity %+v", id)
	}
	if string(cert.Key.Marshal()) == string(rc.engineer.Key.Marshal()) {
		t.Error("the agent got the engineer's key")
	}
	config, _ := os.ReadFile(res.SSHConfigFile)
	mustHave(t, "ssh_config", string(config),
		"Host gatehouse-agent-claude\n", "HostKeyAlias gatehouse\n", "IdentityAgent none\n", "IdentitiesOnly yes\n",
		"IdentityFile "+filepath.Join(wantDir, "id_ed25519")+"\n",
		"CertificateFile "+filepath.Join(wantDir, "id_ed25519-cert.pub")+"\n",
		"UserKnownHostsFile "+filepath.Join(wantDir, "known_hosts")+"\n")
	mustHave(t, "output", out.String(), "alice@example.com via agent:claude", res.SSHConfigFile, "gatehouse-agent-claude")
}

func mustHave(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

func TestAgentCertRefusals(t *testing.T) {
	tests := []struct {
		name     string
		opts     AgentOptions
		later    time.Duration
		revoked  bool
		wantCode string // a CA refusal
		wantText string
	}{
		{name: "grant beyond the engineer's", opts: AgentOptions{Agent: "claude", Grants: []string{"orders:admin"}},
			wantCode: caapi.CodeGrantNotAllowed, wantText: "beyond your own grants"},
		{name: "ttl over the agent cap", opts: AgentOptions{Agent: "claude", TTL: 45 * time.Minute},
			wantCode: caapi.CodeTTLExceeded, wantText: "agent_max_ttl"},
		{name: "agent name that is a path", opts: AgentOptions{Agent: "../claude"}, wantText: "agent name"},
		{name: "engineer certificate revoked", opts: AgentOptions{Agent: "claude"}, revoked: true,
			wantCode: caapi.CodeRevoked, wantText: "revoked"},
		{name: "engineer certificate expired", opts: AgentOptions{Agent: "claude"}, later: 2 * time.Hour, wantText: "gatehouse login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newRealCA(t, time.Hour)
			rc.revoked.Store(tt.revoked)
			opts := tt.opts
			if tt.later != 0 {
				opts.Now = func() time.Time { return time.Now().Add(tt.later) }
			}
			_, err := rc.agentCert(opts)
			if err == nil {
				t.Fatal("AgentCert succeeded")
			}
			var se *ServerError
			if tt.wantCode != "" && (!errors.As(err, &se) || se.Code != tt.wantCode) {
				t.Fatalf("err = %v, want a CA refusal %s", err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err %q does not say %q", err, tt.wantText)
			}
			if _, err := os.Stat(filepath.Join(rc.home, ".gatehouse", "alice", "agents")); err == nil {
				t.Error("agent files were written for a refused request")
			}
		})
	}
}

func TestAgentCertNotLoggedIn(t *testing.T) {
	_, err := AgentCert(context.Background(), AgentOptions{Agent: "claude", Home: t.TempDir()})
	if !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("err = %v, want ErrNotLoggedIn", err)
	}
}
