//go:build servers

package e2e

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestKeyRotation: gatehouse records a session with recorder key A, is
// stopped, A's private key is moved away and its public half put in
// recording.trusted_keys with a not_after, and it starts again (making
// key B) and records another session. GET /v1/recorder-keys publishes
// both, A marked retired; `gatehouse verify --config` passes both
// sessions, and `verify --pubkey` with B alone fails A's naming its
// fingerprint; `gatehouse evidence` verifies both, says which key signed
// each and lists both keys with their counts, and `verify --bundle`
// passes; the console's session page (through a `console link`) shows
// each verified, by its own key.
func TestKeyRotation(t *testing.T) {
	requireTools(t, "ssh", "psql")
	from := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	w := newWorld(t)
	alice := testLoginAuthCode(t, w)
	sessionA := w.runSession(t, w.sshConfig(alice), "gatehouse", func(port int) { psql(t, port, "SELECT 1") })
	pubA := strings.TrimSpace(w.gatehouse("recorder", "pubkey", "--config", w.cfgPath))
	fpA := fingerprintOf(t, pubA)

	notAfter := w.rotateRecorderKey(t, pubA)
	sessionB := w.runSession(t, w.sshConfig(alice), "gatehouse", func(port int) { psql(t, port, "SELECT 2") })
	pubB := strings.TrimSpace(w.gatehouse("recorder", "pubkey", "--config", w.cfgPath))
	fpB := fingerprintOf(t, pubB)
	if fpA == fpB {
		t.Fatalf("the restarted server signs with the old key %s", fpA)
	}
	to := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	dir := t.TempDir()
	keys := filepath.Join(dir, "recorder-keys.json")
	writeFile(t, keys, publishedRecorderKeys(t, w))

	t.Run("GET /v1/recorder-keys publishes both, the old one retired", func(t *testing.T) {
		var pub recorder.PublishedKeys
		if err := json.Unmarshal(mustRead(t, keys), &pub); err != nil {
			t.Fatal(err)
		}
		if len(pub.Keys) != 2 || pub.Keys[0].Fingerprint != fpB || pub.Keys[0].Retired ||
			pub.Keys[1].Fingerprint != fpA || !pub.Keys[1].Retired || pub.Keys[1].NotAfter != notAfter {
			t.Fatalf("published keys: %+v, want %s then %s retired with not_after %s", pub.Keys, fpB, fpA, notAfter)
		}
	})
	t.Run("gatehouse verify passes both sessions", func(t *testing.T) {
		mustContain(t, "verify --config", w.gatehouse("verify", "--config", w.cfgPath, sessionA, sessionB),
			"signed by "+fpA, "signed by "+fpB)
		mustContain(t, "verify --pubkey recorder-keys.json", w.gatehouse("verify", "--dir", filepath.Join(w.dataDir, "recordings"),
			"--pubkey", keys, sessionA, sessionB), "signed by "+fpA, "signed by "+fpB)
		out, err := exec.Command(w.bin, "verify", "--dir", filepath.Join(w.dataDir, "recordings"), "--pubkey", pubB, sessionA).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "signed by key "+fpA+", which is not a trusted recorder key") {
			t.Errorf("verify of A's session with B alone: %v\n%s", err, out)
		}
	})
	t.Run("gatehouse evidence and verify --bundle", func(t *testing.T) {
		bundle := filepath.Join(dir, "evidence.zip")
		w.gatehouse("evidence", "--config", w.cfgPath, "--out", bundle, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))
		mustContain(t, "verify --bundle", w.gatehouse("verify", "--bundle", bundle, "--pubkey", keys), "OK", "files match")
		files := readZip(t, bundle)
		checkRotationBundle(t, files, map[string]string{sessionA: fpA, sessionB: fpB})
	})
	t.Run("the console's session page verifies each with its key", func(t *testing.T) {
		base, _, stop := w.startConsole(t)
		defer stop()
		link := strings.SplitN(w.gatehouse("console", "link", "--config", w.consoleConfig(t, ""), "--ttl", "1h",
			"--identity", "Rotation Auditor"), "\n", 2)[0]
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: stopRedirects}
		if resp := consoleGet(t, c, link); resp.StatusCode != http.StatusOK {
			t.Fatalf("the link: %d\n%s", resp.StatusCode, resp.body)
		}
		for id, fp := range map[string]string{sessionA: fpA, sessionB: fpB} {
			page := consoleGet(t, c, base+"/sessions/"+id)
			if page.StatusCode != http.StatusOK {
				t.Fatalf("session page %s: %d\n%s", id, page.StatusCode, page.body)
			}
			// html/template writes the fingerprint's + as &#43;.
			mustContain(t, "session page "+id, page.body, "Verification: verified", "by recorder key "+strings.ReplaceAll(fp, "+", "&#43;"))
		}
	})
}

// rotateRecorderKey stops the server, moves the recorder key out of
// data_dir, trusts its public half (pubA) in recording.trusted_keys
// with a not_after of now, and starts the server again, which makes a
// new recorder key. It returns the not_after as published.
func (w *world) rotateRecorderKey(t *testing.T, pubA string) string {
	t.Helper()
	w.server.Process.Signal(os.Interrupt)
	select {
	case <-w.serverDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("gatehouse serve did not stop\n%s", w.serverLog())
	}
	// Every recording of key A is closed now: its not_after is now.
	notAfter := time.Now().UTC().Truncate(time.Second).Add(time.Second).Format(time.RFC3339)
	if err := os.Rename(filepath.Join(w.dataDir, recorder.KeyFile), filepath.Join(t.TempDir(), "retired_ed25519")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.dataDir, "recorder-a.pub"), []byte(pubA+"\n"))
	cfg := append(mustRead(t, w.cfgPath), "recording:\n  trusted_keys:\n    - {key: recorder-a.pub, not_after: "+notAfter+"}\n"...)
	writeFile(t, w.cfgPath, cfg)
	w.startServer()
	return notAfter
}

func fingerprintOf(t *testing.T, authorizedKey string) string {
	t.Helper()
	keys, err := recorder.ParsePublicKeys([]byte(authorizedKey))
	if err != nil || len(keys) != 1 {
		t.Fatalf("recorder pubkey printed %q: %v", authorizedKey, err)
	}
	return recorder.Fingerprint(keys[0])
}

// checkRotationBundle: verification.csv says each session verified and
// which key signed it, and the manifest's source lists both keys with
// how many sessions each verified.
func checkRotationBundle(t *testing.T, files map[string][]byte, signedBy map[string]string) {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(string(files["verification.csv"]))).ReadAll()
	if err != nil || len(rows) < 3 {
		t.Fatalf("verification.csv (%v):\n%s", err, files["verification.csv"])
	}
	count := map[string]int{}
	for _, row := range rows[1:] {
		keys := row[len(row)-1]
		count[keys]++
		if fp, ok := signedBy[row[0]]; ok && (row[1] != "ok" || keys != fp) {
			t.Errorf("verification of %s: %q, want ok signed by %s", row[0], row, fp)
		}
	}
	var m struct {
		Source struct {
			RecorderKeys []struct {
				Fingerprint string `json:"fingerprint"`
				Retired     bool   `json:"retired"`
				Sessions    int    `json:"sessions"`
			} `json:"recorder_keys"`
		} `json:"source"`
	}
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	got := m.Source.RecorderKeys
	if len(got) != 2 {
		t.Fatalf("the manifest's source lists %d recorder keys, want 2: %s", len(got), files["manifest.json"])
	}
	for _, k := range got {
		if k.Sessions == 0 || k.Sessions != count[k.Fingerprint] {
			t.Errorf("the manifest says key %s (retired %v) verified %d sessions; verification.csv names it for %d", k.Fingerprint, k.Retired, k.Sessions, count[k.Fingerprint])
		}
	}
}
