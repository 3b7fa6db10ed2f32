//go:build servers

package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// evidenceFacts are what the evidence scenario did, for the populations
// to be checked against.
type evidenceFacts struct {
	used, lapsed, denied string // access request ids
	supportAgent         uint64 // serial of the agent that read masked columns
	revoked              uint64 // serial revoked while its session was open
	revokedSession       string
}

// evidenceScenario runs what the bundle must show: an access request
// approved and used (a session under it), one approved that expires
// unused, one denied; an agent's masked reads and a refused probe; and a
// session ended by the revocation of its certificate.
func (w *world) evidenceScenario(t *testing.T, ap profile) evidenceFacts {
	t.Helper()
	var f evidenceFacts
	// The agents first: one minted after the approval would carry the
	// request (and count as its use).
	support := w.mustAgentCert(t, ap, "evidence-support", "--grant", "orders:support")
	f.supportAgent = support.serial(t)
	w.runSession(t, support.sshConfig(t), support.host(), func(port int) {
		psqlAs(t, port, "support", "", "-c", "SELECT email, ssn FROM people")
		if _, err := psqlAs(t, port, "support", "", "-c", "SELECT id FROM people WHERE ssn LIKE '1%'"); err == nil {
			t.Fatal("the agent's probe of a masked column was not refused")
		}
	})

	doomed := w.mustAgentCert(t, ap, "evidence-revoked", "--grant", "orders:readonly")
	f.revoked = doomed.serial(t)
	before := w.sessionIDs(t)
	port, stop := w.startTunnelVia(t, doomed.sshConfig(t), doomed.host(), "orders")
	if out, err := psql(t, port, "SELECT 'before the revocation'"); err != nil {
		t.Fatalf("the doomed agent's SELECT: %v\n%s", err, out)
	}
	w.gatehouse("revoke", "--config", w.cfgPath, "--serial", fmt.Sprint(f.revoked), "--reason", "e2e: evidence")
	ended := time.Now().Add(10 * time.Second)
	for _, err := psql(t, port, "SELECT 1"); err == nil; _, err = psql(t, port, "SELECT 1") {
		if time.Now().After(ended) {
			t.Fatal("the session outlived its certificate's revocation by 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The bastion ends the session (session.revoked) on its own; the
	// tunnel is left open until it has, so that the client's leaving
	// cannot end it first.
	f.revokedSession = w.newSession(t, before)
	stop()
	carolP := w.newProfile("carol-evidence")
	if res := w.authCodeLogin(carolP, carol); res.err != nil {
		t.Fatalf("carol's login: %v\n%s", res.err, res.out)
	}
	f.used = w.fileRequest(t, ap, "--grant", "orders:admin", "--reason", "=INC-7 repair", "--ttl", "15m")
	w.gatehouseAs(carolP, "approve", f.used, "--profile", carolP.name)
	if res := w.authCodeLogin(ap, alice); res.err != nil {
		t.Fatalf("alice's login after the approval: %v\n%s", res.err, res.out)
	}
	w.runSession(t, w.sshConfig(ap), "gatehouse", func(port int) {
		if out, err := psqlAs(t, port, "admin", "", "-c", "SELECT 'under request'"); err != nil {
			t.Fatalf("psql as admin under the request: %v\n%s", err, out)
		}
	})
	f.lapsed = w.fileRequest(t, ap, "--grant", "orders:admin", "--reason", "INC-8, never used", "--ttl", "3s")
	w.gatehouseAs(carolP, "approve", f.lapsed, "--profile", carolP.name)
	f.denied = w.fileRequest(t, ap, "--grant", "orders:admin", "--reason", "INC-9")
	w.gatehouseAs(carolP, "deny", f.denied, "--reason", "use the runbook", "--profile", carolP.name)

	time.Sleep(3 * time.Second) // the lapsed approval (3s) has surely ended
	return f
}

// population is the rows of NOUN.jsonl of a bundle.
func population(t *testing.T, files map[string][]byte, noun string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	dec := json.NewDecoder(bytes.NewReader(files[noun+".jsonl"]))
	dec.UseNumber() // serials do not fit a float64
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s.jsonl: %v", noun, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// findRow is the row whose key prints as want; it fails the test when
// there is none.
func findRow(t *testing.T, rows []map[string]any, key, want string) map[string]any {
	t.Helper()
	for _, r := range rows {
		if fmt.Sprint(r[key]) == want {
			return r
		}
	}
	t.Fatalf("no row with %s = %s among %v", key, want, rows)
	return nil
}

func rowSays(t *testing.T, what string, row map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := fmt.Sprint(row[k]); got != v {
			t.Errorf("%s: %s is %q, want %q (row %v)", what, k, got, v, row)
		}
	}
}

// checkEvidencePopulations: each population holds what the scenario did.
func checkEvidencePopulations(t *testing.T, files map[string][]byte, f evidenceFacts) {
	t.Run("requests: used, expired unused, denied", func(t *testing.T) {
		rows := population(t, files, "requests")
		used := findRow(t, rows, "id", f.used)
		rowSays(t, "the used request", used, map[string]string{"state": "approved", "used": "true", "decided_by": "carol@example.com",
			"requester": "alice@example.com", "grant": "orders:admin", "justification": "=INC-7 repair"})
		if s, _ := used["sessions"].([]any); len(s) != 1 {
			t.Errorf("the used request's sessions: %v", used["sessions"])
		}
		rowSays(t, "the lapsed request", findRow(t, rows, "id", f.lapsed), map[string]string{"state": "expired", "used": "false", "sessions": "[]"})
		rowSays(t, "the denied request", findRow(t, rows, "id", f.denied), map[string]string{"state": "denied", "decision_reason": "use the runbook"})
		mustContain(t, "requests.csv", string(files["requests.csv"]), ",'=INC-7 repair,")
	})
	t.Run("issuances: the agents vouched for by alice", func(t *testing.T) {
		rows := population(t, files, "issuances")
		rowSays(t, "the support agent", findRow(t, rows, "serial", fmt.Sprint(f.supportAgent)), map[string]string{"outcome": "issued",
			"agent": "evidence-support", "vouched_by": "alice@example.com", "principals": "[orders:support]"})
		rowSays(t, "alice's certificate under the request", findRow(t, rows, "request", f.used), map[string]string{"login_method": "oidc",
			"email": "alice@example.com"})
	})
	t.Run("exposure: masked columns and the refused probe", func(t *testing.T) {
		rows := population(t, files, "exposure")
		rowSays(t, "ssn", findRow(t, rows, "column", "public.people.ssn"), map[string]string{"kind": "masked", "function": "redact"})
		probe := findRow(t, rows, "kind", "refused")
		rowSays(t, "the probe", probe, map[string]string{"text": "SELECT id FROM people WHERE ssn LIKE '1%'",
			"identity": "alice@example.com via agent:evidence-support"})
		mustContain(t, "the probe's rule", fmt.Sprint(probe["rule"]), "masking.")
	})
	t.Run("revocations: the session it ended", func(t *testing.T) {
		r := findRow(t, population(t, files, "revocations"), "what", fmt.Sprintf("serial %d", f.revoked))
		rowSays(t, "the revocation", r, map[string]string{"reason": "e2e: evidence", "matched": fmt.Sprintf("[%d]", f.revoked)})
		s := findRow(t, population(t, files, "sessions"), "session", f.revokedSession)
		mustContain(t, "sessions ended (the session: "+fmt.Sprint(s)+")", fmt.Sprint(r["sessions_ended"]), f.revokedSession+" at ", "revoked")
	})
	t.Run("completeness: the store, the ledgers and the bundle agree", func(t *testing.T) {
		counts := map[string]string{}
		for _, r := range population(t, files, "completeness") {
			counts[fmt.Sprint(r["count"])] = fmt.Sprint(r["value"])
		}
		if counts["store"] != counts["bundle"] || counts["store"] != counts["ledgers"] || counts["store"] == "0" {
			t.Errorf("counts %v", counts)
		}
		if ex := population(t, files, "exceptions"); len(ex) != 0 {
			t.Errorf("exceptions: %v", ex)
		}
		for _, v := range population(t, files, "verification") {
			rowSays(t, "verification", v, map[string]string{"result": "ok", "object_lock": "none"})
		}
	})
}

// checkBundleTampering: verify --bundle names the file of a removed
// entry and of a manifest re-signed by another key.
func checkBundleTampering(t *testing.T, w *world, dir, bundle, keys string) {
	t.Run("a file removed", func(t *testing.T) {
		out := rewriteZip(t, bundle, filepath.Join(dir, "removed.zip"), func(name string, data []byte) []byte {
			if name == "requests.csv" {
				return nil
			}
			return data
		})
		got, err := exec.Command(w.bin, "verify", "--bundle", out, "--pubkey", keys).CombinedOutput()
		if err == nil || !strings.Contains(string(got), "FAILED  requests.csv: missing") {
			t.Errorf("verify --bundle without requests.csv: %v\n%s", err, got)
		}
	})
	t.Run("the manifest re-signed by another key", func(t *testing.T) {
		key := filepath.Join(dir, "other_key")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		manifest := filepath.Join(dir, "manifest.json")
		writeFile(t, manifest, readZip(t, bundle)["manifest.json"])
		if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", key, "-n", "gatehouse-evidence", manifest).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
		}
		sig := mustRead(t, manifest+".sig")
		out := rewriteZip(t, bundle, filepath.Join(dir, "resigned.zip"), func(name string, data []byte) []byte {
			if name == "manifest.sig" {
				return sig
			}
			return data
		})
		got, err := exec.Command(w.bin, "verify", "--bundle", out, "--pubkey", keys).CombinedOutput()
		if err == nil || !strings.Contains(string(got), "FAILED  manifest.sig") {
			t.Errorf("verify --bundle of a re-signed manifest: %v\n%s", err, got)
		}
	})
}

// rewriteZip copies the zip in to out with each entry's data as edit
// returns it (nil: left out).
func rewriteZip(t *testing.T, in, out string, edit func(name string, data []byte) []byte) string {
	t.Helper()
	files := readZip(t, in)
	zr, err := zip.OpenReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range zr.File {
		data := edit(f.Name, files[f.Name])
		if data == nil {
			continue
		}
		fw, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, out, b.Bytes())
	return out
}

// checkReadmeCommands runs the offline check README.txt gives, as
// written, next to the bundle and the recorder's public key.
func checkReadmeCommands(t *testing.T, w *world, files map[string][]byte, bundle string) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "BUNDLE.zip"), mustRead(t, bundle))
	writeFile(t, filepath.Join(dir, "recorder.pub"), []byte(w.gatehouse("recorder", "pubkey", "--config", w.cfgPath)))
	var ran int
	for line := range strings.SplitSeq(string(files["README.txt"]), "\n") {
		cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "$ ")
		if !ok {
			continue
		}
		ran++
		c := exec.Command("bash", "-c", cmd)
		c.Dir = dir
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("README.txt's %q: %v\n%s", cmd, err, out)
		}
	}
	if ran < 4 {
		t.Fatalf("README.txt gives %d commands", ran)
	}
	// The same commands refuse an edited file.
	extracted := filepath.Join(dir, "bundle", "requests.csv")
	writeFile(t, extracted, append(mustRead(t, extracted), '\n'))
	c := exec.Command("bash", "-c", "cd bundle && jq -r '.files[] | .sha256 + \"  \" + .name' manifest.json | sha256sum --strict -c")
	c.Dir = dir
	if out, err := c.CombinedOutput(); err == nil || !strings.Contains(string(out), "requests.csv: FAILED") {
		t.Errorf("sha256sum -c of an edited requests.csv: %v\n%s", err, out)
	}
}

// checkReportInBrowser opens report.html from disk in headless Chromium:
// it has no script, fetches nothing but itself, opens no dialog, and
// shows alice's section.
func checkReportInBrowser(t *testing.T, files map[string][]byte) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	writeFile(t, path, files["report.html"])
	b := newBrowser(t, chromium, "file://"+dir)
	b.run(t, chromedp.Navigate("file://"+path))
	b.checkInert(t, "report.html")
	facts := eval[struct {
		Scripts, Links, Images int
		Headings               []string
	}](t, b, `({Scripts: document.scripts.length, Links: document.querySelectorAll("link,a[href],iframe,object,embed").length,
		Images: document.images.length, Headings: Array.from(document.querySelectorAll("h2"), h => h.textContent)})`)
	if facts.Scripts+facts.Links+facts.Images != 0 {
		t.Errorf("report.html holds %d scripts, %d links, %d images", facts.Scripts, facts.Links, facts.Images)
	}
	if len(facts.Headings) < 2 || !strings.HasPrefix(facts.Headings[0], "Exceptions") || !strings.Contains(strings.Join(facts.Headings, "|"), "alice@example.com") {
		t.Errorf("headings %q", facts.Headings)
	}
	if !b.requested("file://" + path) {
		t.Fatalf("the browser logged no request for the report itself (%v): the check below would prove nothing", b.requestedURLs())
	}
	for _, u := range b.requestedURLs() {
		if u != "file://"+path && u != "about:blank" {
			t.Errorf("report.html made a request: %s", u)
		}
	}
}
