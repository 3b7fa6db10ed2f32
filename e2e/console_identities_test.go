//go:build servers

package e2e

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestConsoleIdentitiesAndExposure: in the real console, alice and an
// agent she vouched for appear on /identities, the agent under her and
// its page naming her; a masked read through the proxy shows its masked
// column with the values masked on /exposure, and a probe refused under
// deny_probing shows as refused for masking; no page holds a masked value.
func TestConsoleIdentitiesAndExposure(t *testing.T) {
	requireTools(t, "ssh", "psql")
	w := newWorldWith(t, erin)
	aliceProfile := testLoginAuthCode(t, w)

	port, stop := w.startTunnel(t, w.sshConfig(aliceProfile), "orders")
	if out, err := psqlAs(t, port, "support", "", "-c", "SELECT email, ssn FROM people ORDER BY id"); err != nil {
		t.Fatalf("alice's masked read: %v\n%s", err, out)
	}
	stop()
	agent := w.mustAgentCert(t, aliceProfile, "exposure-bot", "--grant", "orders:support")
	port, stop = w.startTunnelVia(t, agent.sshConfig(t), agent.host(), "orders")
	if out, err := psqlAs(t, port, "support", "", "-c", "SELECT email FROM people WHERE id = 1"); err != nil || out != "a***@example.com" {
		t.Fatalf("the agent's masked read: %q, %v", out, err)
	}
	if out, err := psqlAs(t, port, "support", "", "-c", "SELECT id FROM people WHERE ssn LIKE '1%'"); err == nil || !strings.Contains(out, "deny_probing") {
		t.Fatalf("the agent's probe was not refused: %v\n%s", err, out)
	}
	stop()

	base, _, stopConsole := w.startConsole(t)
	defer stopConsole()
	page := w.auditorPages(t, base)
	get := func(path string) string {
		t.Helper()
		body := page(path)
		if s := leaked(body); s != "" {
			t.Fatalf("%s shows the masked value %q", path, s)
		}
		return body
	}

	const human, bot = "alice@example.com", "alice@example.com via agent:exposure-bot"
	ref := func(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }
	list := get("/identities?human=alice")
	humanAt, botAt := strings.Index(list, `href="/identities/`+ref(human)+`"`), strings.Index(list, `href="/identities/`+ref(bot)+`"`)
	if humanAt < 0 || botAt < humanAt || !strings.Contains(list[humanAt:], `<tr class="agent">`) {
		t.Errorf("/identities does not list the agent under alice (at %d, %d):\n%s", humanAt, botAt, list)
	}
	mustContain(t, "the agent's page", get("/identities/"+ref(bot)), "Vouched for by</dt><dd>"+human, "orders:support", "masking.pii_strict")
	mustContain(t, "alice's page", get("/identities/"+ref(human)), `href="/identities/`+ref(bot)+`"`, "Agents vouched for")

	ssn := get("/exposure?kind=masked&column=public.people.ssn")
	mustContain(t, "/exposure ssn", ssn, "1 exposure", `<td class="column">public.people.ssn</td><td>redact</td><td>1</td><td class="values">2</td>`)
	email := get("/exposure?kind=masked&column=public.people.email&target=orders")
	mustContain(t, "/exposure email", email, "1 exposure", `<td class="column">public.people.email</td><td>email</td><td>2</td><td class="values">3</td>`)
	refused := get("/exposure?kind=refused")
	mustContain(t, "/exposure refused", refused, "1 exposure", "masking.pii_strict", "ssn LIKE")
	for _, format := range []string{"csv", "jsonl"} {
		get("/exposure?format=" + format)
		get("/identities?format=" + format)
	}
}

// auditorPages logs erin in to the console at base and returns a get
// that fails the test unless a page answers 200, and gives its body.
func (w *world) auditorPages(t *testing.T, base string) func(path string) string {
	return consolePages(t, w.consoleLogin(t, base, erin), base)
}
