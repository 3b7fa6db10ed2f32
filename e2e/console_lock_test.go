//go:build servers

package e2e

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

// lockRowHTML is one object's row in the session page's Object Lock table.
var lockRowHTML = regexp.MustCompile(`<td class="lock-key">([^<]*)</td><td class="lock-mode">([^<]*)</td><td class="lock-until">([^<]*)</td><td class="lock-hold">([^<]*)</td>`)

// TestConsoleObjectLock: the real console reading a real MinIO bucket with
// Object Lock shows, on a session's page, each of the session's objects
// (its chunks and manifest) with the mode and retain-until date that
// minio-go reads from the bucket directly, the legal hold put on one of
// them, the time it read them, and "locked".
func TestConsoleObjectLock(t *testing.T) {
	requireTools(t, "ssh", "ssh-keygen")
	m := testenv.StartMinIO(t)
	const bucket = "locked-recordings"
	w := newS3WorldWith(t, m, bucket, s3Extra{top: fmt.Sprintf("console:\n  listen: 127.0.0.1:%d\n", testenv.FreePort(t))})
	w.waitReady(w.serve())
	w.sshEcho()
	id := w.uploadedSession(t)

	ctx := context.Background()
	host, _, _ := strings.Cut(strings.TrimPrefix(m.Endpoint, "http://"), "/")
	mc, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := s3store.Prefix("sessions", id)
	if err != nil {
		t.Fatal(err)
	}
	manifest := prefix + s3store.ManifestObject
	on := minio.LegalHoldEnabled
	if err := mc.PutObjectLegalHold(ctx, bucket, manifest, minio.PutObjectLegalHoldOptions{Status: &on}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // key → mode|until|hold, as minio-go reads them
	for obj := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		mode, until, err := mc.GetObjectRetention(ctx, bucket, obj.Key, "")
		if err != nil || mode == nil || until == nil {
			t.Fatalf("minio-go: the retention of %s: %v %v %v", obj.Key, mode, until, err)
		}
		hold := ""
		if obj.Key == manifest {
			hold = "legal hold"
		}
		want[obj.Key] = string(*mode) + "|" + until.UTC().Format(time.RFC3339) + "|" + hold
	}
	if len(want) < 2 || !strings.HasPrefix(want[manifest], "COMPLIANCE|") {
		t.Fatalf("the bucket holds %v: want chunks and a COMPLIANCE manifest", want)
	}

	before := time.Now().UTC().Truncate(time.Second)
	cfg := w.cfgPath
	base, _, stop := startConsoleCmd(t, w.command("console", "--config", cfg), filepath.Join(w.dataDir, "console.log"))
	defer stop()
	link := strings.SplitN(w.run("console", "link", "--config", cfg, "--identity", "Lock Auditors", "--ttl", "1h"), "\n", 2)[0]
	jar, _ := cookiejar.New(nil)
	auditor := &http.Client{Jar: jar, CheckRedirect: stopRedirects}
	if resp := consoleGet(t, auditor, link); resp.StatusCode != http.StatusOK {
		t.Fatalf("the link %s: %d\n%s", link, resp.StatusCode, resp.body)
	}
	page := consoleGet(t, auditor, base+"/sessions/"+id)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("/sessions/%s = %d\n%s", id, page.StatusCode, page.body)
	}
	got := map[string]string{}
	for _, row := range lockRowHTML.FindAllStringSubmatch(page.body, -1) {
		got[html.UnescapeString(row[1])] = row[2] + "|" + row[3] + "|" + row[4]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the page shows the objects' locks\n%v\nminio-go reads\n%v", got, want)
	}
	mustContain(t, "the session page", page.body, `Object Lock: <span class="lock-status">locked</span>`)
	read := regexp.MustCompile(`Read from the bucket at (\S+Z)\.`).FindStringSubmatch(page.body)
	if read == nil {
		t.Fatalf("the page does not say when it read the bucket:\n%s", page.body)
	}
	if at, err := time.Parse(time.RFC3339, read[1]); err != nil || at.Before(before) || at.After(time.Now()) {
		t.Errorf("read at %s, want between %s and now (%v)", read[1], before, err)
	}
}
