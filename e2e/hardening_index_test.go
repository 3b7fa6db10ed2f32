//go:build servers

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// testHardeningIndex: the console's lists come from its index, which must
// never vouch for a recording the store no longer holds as it was. A
// session recorded while the console runs is listed, verified; its
// recording is then edited in place, keeping its size and putting its
// modification time back (what a tamperer who can write the recordings
// directory does to fool a cache), and the next list shows it failing
// verification within the index's interval, as a reading of the store
// does at once, and is never again listed "verified". Then
// `gatehouse console reindex` rebuilds the index from the store.
func testHardeningIndex(t *testing.T, w *world, alice profile) {
	requireTools(t, "ssh", "psql")
	base, _, stop := w.startConsole(t)
	defer stop()
	out := w.gatehouse("console", "link", "--config", w.consoleConfig(t, ""), "--ttl", "1h", "--identity", "Index Auditor", "--from", "1h")
	jar, _ := cookiejar.New(nil)
	auditor := &http.Client{Jar: jar, CheckRedirect: stopRedirects}
	if resp := consoleGet(t, auditor, strings.SplitN(out, "\n", 2)[0]); resp.StatusCode != http.StatusOK {
		t.Fatalf("the link: %d %s", resp.StatusCode, resp.body)
	}
	const marker = "SELECT 'index-hardening-4242'"
	id := w.runSession(t, w.sshConfig(alice), "gatehouse", func(port int) {
		if out, err := psql(t, port, marker); err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
	})
	if got := listedVerification(t, auditor, base, id); got != "verified" {
		t.Fatalf("the new session is listed as %q, want verified", got)
	}

	path := filepath.Join(w.store().Dir, recorder.KindSession, id+".jsonl")
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.ReplaceAll(original, []byte("index-hardening-4242"), []byte("index-hardening-9999"))
	if bytes.Equal(edited, original) {
		t.Fatalf("the recording of %s does not hold the statement", id)
	}
	t.Cleanup(func() { // the later subtests check every chain
		if err := os.WriteFile(path, original, 0o600); err != nil {
			t.Errorf("restoring %s: %v", path, err)
		}
	})
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	// Lists read names only; the index's sync every index_interval (5s)
	// compares every recording's size, inode and change time.
	deadline := time.Now().Add(3 * policy.DefaultConsoleIndexEvery)
	got := listedVerification(t, auditor, base, id)
	for !strings.HasPrefix(got, "FAILED") && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		got = listedVerification(t, auditor, base, id)
	}
	if !strings.HasPrefix(got, "FAILED") {
		t.Fatalf("the edited recording is still listed as %q after %s, want FAILED", got, 3*policy.DefaultConsoleIndexEvery)
	}
	search := consoleGet(t, auditor, base+"/statements?format=csv&text=index-hardening-9999")
	mustContain(t, "a search for the edited text", search.body, id)

	stop()
	out = w.gatehouse("console", "reindex", "--config", w.consoleConfig(t, ""))
	mustContain(t, "gatehouse console reindex", out, "indexed ", " sessions of ", "console-index")
}

// listedVerification is the verification column of session id in the
// console's /sessions JSON Lines export.
func listedVerification(t *testing.T, c *http.Client, base, id string) string {
	t.Helper()
	resp := consoleGet(t, c, base+"/sessions?format=jsonl")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/sessions?format=jsonl: %d %s", resp.StatusCode, resp.body)
	}
	sc := bufio.NewScanner(strings.NewReader(resp.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var row struct{ Session, Verification string }
		if json.Unmarshal(sc.Bytes(), &row) == nil && row.Session == id {
			return row.Verification
		}
	}
	t.Fatalf("/sessions does not list %s:\n%s", id, resp.body)
	return ""
}
