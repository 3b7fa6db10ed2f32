//go:build servers

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/policy"
)

var requestIDRe = regexp.MustCompile(`\breq-[0-9a-f]+\b`)

// gatehouseTry runs the binary with a profile's HOME and returns its
// output and error, for commands that are meant to fail.
func (w *world) gatehouseTry(p profile, args ...string) (string, error) {
	cmd := exec.Command(w.bin, args...)
	cmd.Env = p.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fileRequest runs `gatehouse request` as p and returns the request id.
func (w *world) fileRequest(t *testing.T, p profile, args ...string) string {
	t.Helper()
	out := w.gatehouseAs(p, append([]string{"request", "--profile", p.name}, args...)...)
	id := requestIDRe.FindString(out)
	if id == "" {
		t.Fatalf("no request id in:\n%s", out)
	}
	return id
}

// approvalExpiry reads when request id's approval ends from the
// server's requests file in data_dir.
func (w *world) approvalExpiry(t *testing.T, id string) time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dataDir, "requests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Requests []struct {
			ID        string    `json:"id"`
			State     string    `json:"state"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Requests {
		if r.ID == id && r.State == "approved" {
			return r.ExpiresAt
		}
	}
	t.Fatalf("request %s is not approved in requests.json:\n%s", id, b)
	return time.Time{}
}

// testAccessRequests: orders:admin requires approval by dba-leads. alice
// (engineering) requests it; she cannot approve it herself; carol
// (dba-leads), logged in with her own certificate, approves it; alice's
// next certificate carries it and the request id, lives no longer than
// the approval, and tunnels to orders as admin. carol cannot approve her
// own request either; a denial is recorded with its reason.
func testAccessRequests(t *testing.T, w *world) {
	mustContain(t, "policy check", w.gatehouse("policy", "check", w.cfgPath),
		"members of engineering may request orders:admin, approved by members of dba-leads for up to 20m0s")
	a := w.newProfile("alice-jit")
	if res := w.authCodeLogin(a, alice); res.err != nil {
		t.Fatalf("alice's login: %v\n%s", res.err, res.out)
	}
	if c := readCert(t, a.cert()); slices.Contains(c.ValidPrincipals, "orders:admin") {
		t.Fatalf("orders:admin given without approval: %v", c.ValidPrincipals)
	}
	c := w.newProfile("carol")
	if res := w.authCodeLogin(c, carol); res.err != nil {
		t.Fatalf("carol's login: %v\n%s", res.err, res.out)
	}

	id := w.fileRequest(t, a, "--grant", "orders:admin", "--reason", "INC-9: repair order 2", "--ttl", "15m")
	mustContain(t, "request.filed event", w.findCAEvent(t, "request.filed", id), "alice@example.com", "orders:admin", "INC-9")

	out, err := w.gatehouseTry(a, "approve", id, "--profile", a.name)
	if err == nil {
		t.Fatalf("alice approved her own request:\n%s", out)
	}
	mustContain(t, "self-approval", out, "your own request")
	mustContain(t, "request.refused event", w.findCAEvent(t, "request.refused", id), `"action":"approve"`, "alice@example.com")

	list := w.gatehouseAs(c, "requests", "--profile", c.name)
	mustContain(t, "carol's pending requests", list, id, "alice@example.com", "orders:admin", "INC-9")
	out = w.gatehouseAs(c, "approve", id, "--profile", c.name)
	mustContain(t, "approve", out, "Approved "+id)
	mustContain(t, "request.approved event", w.findCAEvent(t, "request.approved", id), "carol@example.com", `"state":"approved"`)
	expiry := w.approvalExpiry(t, id)

	// alice's next certificate carries the grant.
	if res := w.authCodeLogin(a, alice); res.err != nil {
		t.Fatalf("alice's login after approval: %v\n%s", res.err, res.out)
	}
	cert := readCert(t, a.cert())
	if !slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Fatalf("after approval, principals %v", cert.ValidPrincipals)
	}
	ident, err := policy.DecodeIdentity(cert.Extensions[policy.IdentityExtension])
	if err != nil || ident.RequestID != id {
		t.Fatalf("identity %+v (%v), want request id %s", ident, err, id)
	}
	if cert.ValidBefore > uint64(expiry.Unix()) {
		t.Errorf("certificate valid until %d, past the approval's end %s", cert.ValidBefore, expiry)
	}
	if life := expiry.Sub(time.Now()); life > 15*time.Minute || life < 10*time.Minute {
		t.Errorf("approval ends in %s, want about the requested 15m (under max_ttl 20m)", life)
	}
	mustContain(t, "cert.issued event", w.findCAEvent(t, "cert.issued", id), "orders:admin", "alice@example.com")

	port, stop := w.startTunnel(t, w.sshConfig(a), "orders")
	sqlOut, err := psqlAs(t, port, "admin", "", "-c", "CREATE TEMP TABLE jit (x int)", "-c", "INSERT INTO jit VALUES (1)", "-c", "SELECT count(*) FROM jit")
	if err != nil || !strings.HasSuffix(sqlOut, "1") {
		t.Fatalf("psql as admin through the tunnel: %v\n%s\nserver log:\n%s", err, sqlOut, w.serverLog())
	}
	stop()

	// An approver cannot approve her own request either; a denial is
	// recorded with its reason.
	own := w.fileRequest(t, c, "--grant", "orders:admin", "--reason", "my own")
	out, err = w.gatehouseTry(c, "approve", own, "--profile", c.name)
	if err == nil {
		t.Fatalf("carol approved her own request:\n%s", out)
	}
	mustContain(t, "carol's self-approval", out, "your own request")
	mustContain(t, "request.refused event", w.findCAEvent(t, "request.refused", own), "carol@example.com")
	again := w.fileRequest(t, a, "--grant", "orders:admin", "--reason", "INC-10")
	out = w.gatehouseAs(c, "deny", again, "--reason", "use the runbook", "--profile", c.name)
	mustContain(t, "deny", out, "Denied "+again)
	mustContain(t, "request.denied event", w.findCAEvent(t, "request.denied", again), "use the runbook", "carol@example.com", `"state":"denied"`)
	out, err = w.gatehouseTry(c, "approve", again, "--profile", c.name)
	if err == nil || !strings.Contains(out, "already denied") {
		t.Errorf("approving a denied request: %v\n%s", err, out)
	}
}

// testApprovalExpires: a grant given by an approval is in the certificates
// issued while the approval lasts, and in none issued after it ended.
func testApprovalExpires(t *testing.T, w *world) {
	d, c := w.newProfile("dave"), w.newProfile("carol-expiry")
	for _, login := range []struct {
		p    profile
		user testenv.IdPUser
	}{{d, dave}, {c, carol}} {
		if res := w.authCodeLogin(login.p, login.user); res.err != nil {
			t.Fatalf("%s's login: %v\n%s", login.user.Username, res.err, res.out)
		}
	}
	id := w.fileRequest(t, d, "--grant", "orders:admin", "--reason", "INC-11", "--ttl", "4s")
	w.gatehouseAs(c, "approve", id, "--profile", c.name)
	expiry := w.approvalExpiry(t, id)
	if res := w.authCodeLogin(d, dave); res.err != nil {
		t.Fatalf("dave's login during the approval: %v\n%s", res.err, res.out)
	}
	cert := readCert(t, d.cert())
	if !slices.Contains(cert.ValidPrincipals, "orders:admin") || cert.ValidBefore > uint64(expiry.Unix()) {
		t.Fatalf("during the approval: principals %v, valid until %d (approval ends %d)", cert.ValidPrincipals, cert.ValidBefore, expiry.Unix())
	}
	time.Sleep(time.Until(expiry) + time.Second) // let the approval end
	if res := w.authCodeLogin(d, dave); res.err != nil {
		t.Fatalf("dave's login after the approval: %v\n%s", res.err, res.out)
	}
	if cert := readCert(t, d.cert()); slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Fatalf("after the approval ended, dave's certificate still carries orders:admin: %v", cert.ValidPrincipals)
	}
}
