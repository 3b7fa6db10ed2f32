//go:build servers

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestConsoleEvidence: an external auditor's link downloads the
// period's evidence bundle from the real console over HTTP; `gatehouse
// verify --bundle --pubkey` passes with the console's public key (and
// fails with the recorder's alone); its data files are byte for byte
// those of `gatehouse evidence` run with the same parameters (only
// manifest.json and its signature differ, and the manifest lists the
// same files with the same hashes); the export is recorded in the
// console's activity stream with the manifest's SHA-256; and a link
// limited to orders gets 403 for a bundle of billing.
func TestConsoleEvidence(t *testing.T) {
	requireTools(t, "ssh", "psql")
	from := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	w := newWorld(t)
	alice := testLoginAuthCode(t, w)
	w.runSession(t, w.sshConfig(alice), "gatehouse", func(port int) {
		psql(t, port, "SELECT 1")
		psql(t, port, "DELETE FROM customers") // denied under readonly
	})
	// The period ends before the console starts: the console's own
	// activity (the link used, the bundle made) falls after it, so that
	// the bundle made later on the command line holds the same rows.
	to := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(to) + 100*time.Millisecond)

	base, activity, stop := w.startConsole(t)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	mint := func(args ...string) *http.Client {
		t.Helper()
		out := w.gatehouse(append([]string{"console", "link", "--config", w.consoleConfig(t, ""), "--ttl", "1h"}, args...)...)
		link := strings.SplitN(out, "\n", 2)[0]
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: stopRedirects}
		if resp := consoleGet(t, c, link); resp.StatusCode != http.StatusOK {
			t.Fatalf("the link %q: %d\n%s", link, resp.StatusCode, resp.body)
		}
		return c
	}
	params := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "target": {"orders"}}
	auditor := mint("--identity", "Evidence Auditor LLP")

	form := consoleGet(t, auditor, base+"/evidence")
	if form.StatusCode != http.StatusOK || !strings.Contains(form.body, `action="/evidence/bundle.zip"`) {
		t.Fatalf("/evidence: %d\n%s", form.StatusCode, form.body)
	}
	resp := consoleGet(t, auditor, base+"/evidence/bundle.zip?"+params.Encode())
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="gatehouse-evidence-`) {
		t.Fatalf("the bundle: %d %q %q\n%.2000s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), resp.body)
	}
	dir := t.TempDir()
	fromConsole := filepath.Join(dir, "console.zip")
	writeFile(t, fromConsole, []byte(resp.body))

	consolePub := filepath.Join(dir, "console.pub")
	writeFile(t, consolePub, []byte(w.gatehouse("recorder", "pubkey", "--config", w.consoleConfig(t, ""), "--console")))
	mustContain(t, "verify --bundle --pubkey console.pub", w.gatehouse("verify", "--bundle", fromConsole, "--pubkey", consolePub),
		"OK", "(console key)", "files match", "Evidence Auditor LLP")
	recorderKeys := filepath.Join(dir, "recorder-keys.json")
	writeFile(t, recorderKeys, publishedRecorderKeys(t, w))
	if out, err := exec.Command(w.bin, "verify", "--bundle", fromConsole, "--pubkey", recorderKeys).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "FAILED  manifest.sig") {
		t.Errorf("the console's bundle verifies with the recorder key: %v\n%s", err, out)
	}

	t.Run("the data files are those of gatehouse evidence", func(t *testing.T) {
		fromCLI := filepath.Join(dir, "cli.zip")
		w.gatehouse("evidence", "--config", w.cfgPath, "--from", params.Get("from"), "--to", params.Get("to"), "--target", "orders", "--out", fromCLI)
		console, cli := readZip(t, fromConsole), readZip(t, fromCLI)
		if names(console) != names(cli) {
			t.Fatalf("the bundles hold different files:\nconsole %s\ncli     %s", names(console), names(cli))
		}
		for name, data := range cli {
			if !strings.HasPrefix(name, "manifest.") && !bytes.Equal(data, console[name]) {
				t.Errorf("%s differs between the console's bundle and gatehouse evidence's", name)
			}
		}
		var mc, ml struct {
			Files      json.RawMessage `json:"files"`
			SigningKey string          `json:"signing_key"`
			SignedBy   string          `json:"signed_by"`
		}
		if json.Unmarshal(console["manifest.json"], &mc) != nil || json.Unmarshal(cli["manifest.json"], &ml) != nil {
			t.Fatal("a manifest does not parse")
		}
		if !bytes.Equal(mc.Files, ml.Files) || mc.SigningKey != "console" || ml.SigningKey != "" || mc.SignedBy == ml.SignedBy {
			t.Errorf("manifests: console signing_key %q by %s, cli %q by %s; files equal: %v", mc.SigningKey, mc.SignedBy, ml.SigningKey, ml.SignedBy, bytes.Equal(mc.Files, ml.Files))
		}
		mustContain(t, "sessions.csv", string(cli["sessions.csv"]), "alice@example.com")
	})

	ordersOnly := mint("--identity", "Orders Only LLP", "--target", "orders")
	billing := url.Values{"from": {params.Get("from")}, "to": {params.Get("to")}, "target": {"billing"}}
	if resp := consoleGet(t, ordersOnly, base+"/evidence/bundle.zip?"+billing.Encode()); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(resp.body, "billing is outside") {
		t.Errorf("a link for orders asks for billing: %d\n%.2000s", resp.StatusCode, resp.body)
	}

	stop()
	stopped = true
	lines, err := w.store().Lines(recorder.KindConsole, activity)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(readZip(t, fromConsole)["manifest.json"])
	mustContain(t, "the console's activity stream", string(joinLines(lines)), `"type":"console.export"`, `"format":"zip"`,
		`"sha256":"`+hex.EncodeToString(sum[:])+`"`, `"path":"/evidence/bundle.zip"`, `"reason":"target billing is outside`)
}

// names are a bundle's file names, sorted, for reading.
func names(files map[string][]byte) string {
	var out []string
	for name := range files {
		out = append(out, name)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
