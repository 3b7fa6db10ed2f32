//go:build servers

package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEvidence: after a human's and an agent's sessions (statements
// allowed, denied, and one whose text is a spreadsheet formula), an
// access request used, one expired unused and one denied, an agent's
// masked reads and refused probe, and a session ended by a revocation
// (evidenceScenario; the populations hold each), the
// real binary's `gatehouse evidence` bundle verifies offline with the
// published recorder key (`verify --bundle`, and OpenSSH's own
// `ssh-keygen -Y verify`), counts the sessions `gatehouse sessions` lists
// for the period, is the same byte for byte when made again, and fails
// naming sessions.csv once one byte of it is edited.
func TestEvidence(t *testing.T) {
	from := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	w := newWorld(t)
	alice := testLoginAuthCode(t, w)
	w.runSession(t, w.sshConfig(alice), "gatehouse", func(port int) {
		psql(t, port, "SELECT 1")
		psql(t, port, "DELETE FROM customers") // denied under readonly
		psql(t, port, "=1+1")                  // a syntax error; its text is a formula
	})
	agent := w.mustAgentCert(t, alice, "evidence-bot", "--grant", "orders:readonly")
	w.runSession(t, agent.sshConfig(t), agent.host(), func(port int) { psql(t, port, "SELECT 2") })
	facts := w.evidenceScenario(t, alice)
	to := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	period := []string{"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}

	dir := t.TempDir()
	bundle := filepath.Join(dir, "evidence.zip")
	w.gatehouse(append([]string{"evidence", "--config", w.cfgPath, "--out", bundle}, period...)...)
	keys := filepath.Join(dir, "recorder-keys.json")
	writeFile(t, keys, publishedRecorderKeys(t, w))
	mustContain(t, "verify --bundle", w.gatehouse("verify", "--bundle", bundle, "--pubkey", keys), "OK", "files match")
	files := readZip(t, bundle)

	t.Run("the manifest verifies with ssh-keygen -Y verify", func(t *testing.T) {
		checkWithSSHKeygen(t, dir, files)
	})
	t.Run("sessions tie out with gatehouse sessions", func(t *testing.T) {
		listed := w.gatehouse("sessions", "--config", w.cfgPath, "--since", period[1], "--until", period[3])
		rows := len(strings.Split(strings.TrimSpace(listed), "\n")) - 1 // less the header
		var m struct {
			Files []struct {
				Name string `json:"name"`
				Rows int    `json:"rows"`
			} `json:"files"`
		}
		if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			if strings.HasPrefix(f.Name, "sessions.") && f.Rows != rows {
				t.Errorf("%s has %d rows, gatehouse sessions lists %d:\n%s", f.Name, f.Rows, rows, listed)
			}
		}
		if rows < 2 {
			t.Errorf("gatehouse sessions lists %d sessions, want the human's and the agent's:\n%s", rows, listed)
		}
		mustContain(t, "sessions.csv", string(files["sessions.csv"]), "alice@example.com", "evidence-bot")
	})
	t.Run("a formula in a statement is neutralised in CSV", func(t *testing.T) {
		mustContain(t, "statements.jsonl", string(files["statements.jsonl"]), `"text":"=1+1"`, `"text":"DELETE FROM customers"`)
		mustContain(t, "statements.csv", string(files["statements.csv"]), ",'=1+1,")
		if strings.Contains(string(files["statements.csv"]), ",=1+1") {
			t.Errorf("statements.csv holds =1+1 as a formula:\n%s", files["statements.csv"])
		}
	})
	t.Run("made again, the data files are identical", func(t *testing.T) {
		again := filepath.Join(dir, "again.zip")
		w.gatehouse(append([]string{"evidence", "--config", w.cfgPath, "--out", again}, period...)...)
		for name, data := range readZip(t, again) {
			if !strings.HasPrefix(name, "manifest.") && !bytes.Equal(data, files[name]) {
				t.Errorf("%s differs between two runs", name)
			}
		}
	})
	checkEvidencePopulations(t, files, facts)
	checkBundleTampering(t, w, dir, bundle, keys)
	t.Run("README.txt's offline check, as written", func(t *testing.T) { checkReadmeCommands(t, w, files, bundle) })
	t.Run("report.html in headless Chromium", func(t *testing.T) { checkReportInBrowser(t, files) })
	t.Run("one byte of sessions.csv edited", func(t *testing.T) {
		edited := filepath.Join(dir, "edited.zip")
		editZipEntry(t, bundle, edited, "sessions.csv")
		out, err := exec.Command(w.bin, "verify", "--bundle", edited, "--pubkey", keys).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "FAILED  sessions.csv") {
			t.Errorf("verify --bundle of an edited sessions.csv: %v\n%s", err, out)
		}
	})
}

// checkWithSSHKeygen verifies manifest.sig as the bundle's README tells
// an auditor without gatehouse to.
func checkWithSSHKeygen(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	var published struct {
		Keys []struct {
			PublicKey string `json:"public_key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "recorder-keys.json")), &published); err != nil || len(published.Keys) == 0 {
		t.Fatalf("recorder keys: %v", err)
	}
	fields := strings.Fields(published.Keys[0].PublicKey)
	signers := filepath.Join(dir, "allowed_signers")
	writeFile(t, signers, []byte("gatehouse-recorder "+fields[0]+" "+fields[1]+"\n"))
	sig := filepath.Join(dir, "manifest.sig")
	writeFile(t, sig, files["manifest.sig"])
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", signers, "-I", "gatehouse-recorder", "-n", "gatehouse-evidence", "-s", sig)
	cmd.Stdin = bytes.NewReader(files["manifest.json"])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
	cmd = exec.Command("ssh-keygen", "-Y", "verify", "-f", signers, "-I", "gatehouse-recorder", "-n", "gatehouse-evidence", "-s", sig)
	cmd.Stdin = bytes.NewReader(append(bytes.Clone(files["manifest.json"]), ' '))
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("ssh-keygen -Y verify accepted an edited manifest:\n%s", out)
	}
}

func readZip(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// editZipEntry copies the zip in to out, every entry as it is but name,
// whose first data row gets one byte changed, as someone editing the
// CSV and zipping it again would.
func editZipEntry(t *testing.T, in, out, name string) {
	t.Helper()
	rewriteZip(t, in, out, func(entry string, data []byte) []byte {
		if entry == name {
			data[bytes.IndexByte(data, '\n')+1] ^= 0x01 // the first row after the header
		}
		return data
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
