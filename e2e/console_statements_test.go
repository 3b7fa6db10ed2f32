//go:build servers

package e2e

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestConsoleStatementsAndRequests: in the real console, the statements
// an agent ran through the proxy are found by text and by decision; an
// access request approved and used shows as used and links to the
// session opened under it (whose page links back), and one approved but
// never used shows as never used.
func TestConsoleStatementsAndRequests(t *testing.T) {
	requireTools(t, "ssh", "psql")
	w := newWorldWith(t, erin)
	aliceProfile := testLoginAuthCode(t, w)

	agent := w.mustAgentCert(t, aliceProfile, "search-bot", "--grant", "orders:readonly")
	port, stopTunnel := w.startTunnelVia(t, agent.sshConfig(t), agent.host(), "orders")
	if out, err := psql(t, port, "SELECT 'Needle-E2E' AS found"); err != nil {
		t.Fatalf("the agent's SELECT: %v\n%s", err, out)
	}
	if out, err := psql(t, port, "DELETE FROM customers WHERE email = 'needle-e2e'"); err == nil {
		t.Fatalf("the agent's DELETE was not refused:\n%s", out)
	}
	stopTunnel()

	a, c, d := w.newProfile("alice-jit"), w.newProfile("carol"), w.newProfile("dave")
	for p, u := range map[*profile]testenv.IdPUser{&a: alice, &c: carol, &d: dave} {
		if res := w.authCodeLogin(*p, u); res.err != nil {
			t.Fatalf("%s's login: %v\n%s", u.Email, res.err, res.out)
		}
	}
	used := w.fileRequest(t, a, "--grant", "orders:admin", "--reason", "INC-21: used", "--ttl", "15m")
	unused := w.fileRequest(t, d, "--grant", "orders:admin", "--reason", "INC-22: never used", "--ttl", "15m")
	for _, id := range []string{used, unused} {
		mustContain(t, "approve", w.gatehouseAs(c, "approve", id, "--profile", c.name), "Approved "+id)
	}
	if res := w.authCodeLogin(a, alice); res.err != nil {
		t.Fatalf("alice's login after approval: %v\n%s", res.err, res.out)
	}
	before := w.sessionIDs(t)
	port, stop := w.startTunnel(t, w.sshConfig(a), "orders")
	if out, err := psqlAs(t, port, "admin", "", "-c", "SELECT 'as admin'"); err != nil {
		t.Fatalf("psql as admin: %v\n%s", err, out)
	}
	stop()
	adminSession := w.newSession(t, before)

	base, _, stopConsole := w.startConsole(t)
	defer stopConsole()
	auditor := w.consoleLogin(t, base, erin)
	get := consolePages(t, auditor, base)

	found := get("/statements?text=needle-e2e")
	mustContain(t, "/statements?text=needle-e2e", found, "2 statements", "Needle-E2E", "DELETE FROM customers", "search-bot")
	denied := get("/statements?text=needle-e2e&decision=deny")
	mustContain(t, "/statements?decision=deny", denied, "1 statements", "DELETE FROM customers")
	mustNotContain(t, "/statements?decision=deny", denied, "Needle-E2E")

	usedRow := get("/requests?id=" + used)
	mustContain(t, "the used request", usedRow, "1 requests", "INC-21: used", "alice@example.com", "carol@example.com", ">used<",
		`href="/sessions/`+adminSession+`"`)
	unusedRow := get("/requests?id=" + unused)
	mustContain(t, "the unused request", unusedRow, "1 requests", "INC-22: never used", "dave@example.com", "never used")
	mustNotContain(t, "the unused request", unusedRow, `href="/sessions/`)
	mustContain(t, "the admin session's page", get("/sessions/"+adminSession), `href="/requests?id=`+used+`"`)
	if !strings.Contains(get("/requests?used=no"), unused) {
		t.Errorf("/requests?used=no does not list %s", unused)
	}
}

// newSession waits for the one session begun since before to end, and
// returns its id.
func (w *world) newSession(t *testing.T, before map[string]bool) string {
	t.Helper()
	w.newSessionEvents(t, before)
	var ids []string
	for id := range w.sessionIDs(t) {
		if !before[id] {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d sessions recorded, want 1: %v", len(ids), ids)
	}
	return ids[0]
}
