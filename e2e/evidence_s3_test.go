//go:build servers

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

// TestEvidenceObjectLock: with store s3 (MinIO, Object Lock in
// compliance mode, retention 1h), the bundle's verification row of an
// uploaded session says COMPLIANCE with a retain-until about an hour
// after its upload, every object locked, as read from the bucket; and
// objectlock.json is the bucket's configuration as MinIO reports it.
func TestEvidenceObjectLock(t *testing.T) {
	requireTools(t, "ssh", "ssh-keygen")
	m := testenv.StartMinIO(t)
	w := newS3World(t, m, "evidence")
	from := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	w.waitReady(w.serve())
	mustContain(t, "ssh -W output", w.sshEcho(), "echo: hello through s3-recorded gatehouse")
	id := w.uploadedSession(t)
	uploaded := time.Now()

	bundle := filepath.Join(t.TempDir(), "evidence.zip")
	w.run("evidence", "--config", w.cfgPath, "--from", from.Format(time.RFC3339),
		"--to", time.Now().UTC().Add(time.Minute).Format(time.RFC3339), "--out", bundle)
	files := readZip(t, bundle)
	row := findRow(t, population(t, files, "verification"), "session", id)
	rowSays(t, "the uploaded session", row, map[string]string{"result": "ok", "object_lock": "COMPLIANCE"})
	if locked, all, _ := strings.Cut(fmt.Sprint(row["locked_objects"]), "/"); locked != all || locked == "0" || locked == "" {
		t.Errorf("locked objects %v, want all of them", row["locked_objects"])
	}
	until, err := time.Parse(time.RFC3339Nano, row["retain_until"].(string))
	if err != nil || until.Before(uploaded.Add(50*time.Minute)) || until.After(uploaded.Add(61*time.Minute)) {
		t.Errorf("retain until %v (%v), want about an hour after %s", row["retain_until"], err, uploaded)
	}
	var lock map[string]any
	if err := json.Unmarshal(files["objectlock.json"], &lock); err != nil {
		t.Fatal(err)
	}
	if lock["store"] != "s3" || lock["bucket"] != "evidence" || lock["status"] != "Enabled" {
		t.Errorf("objectlock.json: %v", lock)
	}
	for _, ex := range population(t, files, "exceptions") {
		if ex["kind"] == "not locked" {
			t.Errorf("exception %v", ex)
		}
	}
}

// uploadedSession waits up to 30 s for ssh's session (the one that
// authenticated: waitReady's probes of the SSH port are sessions too) to
// be uploaded, and returns its id.
func (w *s3World) uploadedSession(t *testing.T) string {
	t.Helper()
	spool := filepath.Join(w.dataDir, "recordings", recorder.KindSession)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		marks, _ := filepath.Glob(filepath.Join(spool, "*"+s3store.UploadedSuffix))
		for _, mark := range marks {
			stream, _ := os.ReadFile(strings.TrimSuffix(mark, s3store.UploadedSuffix) + ".jsonl")
			if strings.Contains(string(stream), `"type":"auth.success"`) {
				return strings.TrimSuffix(filepath.Base(mark), s3store.UploadedSuffix)
			}
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(spool)
			t.Fatalf("no session uploaded after 30s; spool %v\nserver log:\n%s", entries, w.serverLog())
		}
	}
}
