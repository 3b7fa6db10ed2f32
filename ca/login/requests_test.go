package login

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
)

const requestTestPolicy = agentTestPolicy + `  - groups: [engineering]
    allow: [orders:admin]
    requires_approval: {approvers: [dba-leads], max_ttl: 30m}
`

// requestWorld is package ca's API with access requests, and two logged
// in profiles: alice (engineering) and carol (engineering, dba-leads).
type requestWorld struct {
	authority    *ca.Authority
	alice, carol RequestOptions
}

func newRequestWorld(t *testing.T) *requestWorld {
	t.Helper()
	cfg, err := policy.Parse([]byte(requestTestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	store, err := ca.OpenRequestStore(filepath.Join(t.TempDir(), "requests.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := &requestWorld{authority: &ca.Authority{UserSigner: newSigner(t), HostSigner: newSigner(t), Policy: cfg, Record: &memRecorder{}, Requests: store}}
	srv := httptest.NewServer((&ca.API{Authority: w.authority}).Handler())
	t.Cleanup(srv.Close)
	w.alice = w.profile(t, srv.URL, "alice", "u-1", []string{"engineering"})
	w.carol = w.profile(t, srv.URL, "carol", "u-2", []string{"engineering", "dba-leads"})
	return w
}

func (w *requestWorld) profile(t *testing.T, server, name, sub string, groups []string) RequestOptions {
	t.Helper()
	home := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(key.Public())
	id := policy.Identity{Subject: sub, Email: name + "@example.com", Issuer: "https://idp.example.com", Groups: groups}
	cert, err := w.authority.Issue(context.Background(), ca.Request{Identity: id, PublicKey: pub, Source: ca.SourceOIDC})
	if err != nil {
		t.Fatal(err)
	}
	o := &Options{Server: server, Profile: "default", Home: home}
	info := &caapi.Info{SSHAddress: "127.0.0.1:2222", SSHHostAlias: "gatehouse",
		HostCAKnownHosts: ca.HostKnownHostsLine(w.authority.HostSigner.PublicKey(), []string{"gatehouse"})}
	if _, err := o.save(info, key, cert); err != nil {
		t.Fatal(err)
	}
	return RequestOptions{Home: home}
}

func serverCode(err error) string {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

func TestAccessRequestCommands(t *testing.T) {
	w := newRequestWorld(t)
	ctx := context.Background()
	var out bytes.Buffer
	alice := w.alice
	alice.Out = &out
	r, err := FileRequest(ctx, alice, "orders:admin", "INC-7", 10*time.Minute)
	if err != nil {
		t.Fatalf("file: %v", err)
	}
	mustHave(t, "request output", out.String(), r.ID, "orders:admin", "gatehouse login")

	out.Reset()
	carol := w.carol
	carol.Out = &out
	list, err := ListRequests(ctx, carol)
	if err != nil || len(list) != 1 || list[0].ID != r.ID {
		t.Fatalf("carol's list: %v %v", list, err)
	}
	mustHave(t, "list output", out.String(), r.ID, "alice@example.com", "orders:admin", "INC-7", "10m0s")

	if _, err := DecideRequest(ctx, alice, r.ID, true, ""); serverCode(err) != "grant_not_allowed" || !strings.Contains(err.Error(), "your own") {
		t.Errorf("self-approval: %v", err)
	}
	out.Reset()
	got, err := DecideRequest(ctx, carol, r.ID, true, "")
	if err != nil || got.State != "approved" || got.ExpiresAt.Sub(got.DecidedAt) != 10*time.Minute {
		t.Fatalf("approve: %+v %v", got, err)
	}
	mustHave(t, "approve output", out.String(), "Approved "+r.ID)

	// alice's next certificate carries it.
	id := policy.Identity{Subject: "u-1", Email: "alice@example.com", Issuer: "https://idp.example.com", Groups: []string{"engineering"}}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(key.Public())
	cert, err := w.authority.Issue(ctx, ca.Request{Identity: id, PublicKey: pub, Source: ca.SourceOIDC})
	if err != nil || !slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Fatalf("after approval: %v %v", cert, err)
	}

	r2, err := FileRequest(ctx, alice, "orders:admin", "again", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecideRequest(ctx, carol, r2.ID, false, ""); serverCode(err) != "invalid_request" {
		t.Errorf("deny without reason: %v", err)
	}
	if got, err := DecideRequest(ctx, carol, r2.ID, false, "one is enough"); err != nil || got.State != "denied" {
		t.Errorf("deny: %+v %v", got, err)
	}
	if _, err := FileRequest(ctx, alice, "orders:readonly", "x", 0); serverCode(err) != "invalid_request" {
		t.Errorf("request for a standing grant: %v", err)
	}
}

func TestAccessRequestNotLoggedIn(t *testing.T) {
	_, err := ListRequests(context.Background(), RequestOptions{Home: t.TempDir()})
	if !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("err = %v, want ErrNotLoggedIn", err)
	}
}
