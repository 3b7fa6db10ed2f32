//go:build servers

package s3store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/minio/minio-go/v7"
)

const testRetention = time.Hour

func testConfig(m *testenv.MinIO, bucket string) Config {
	return Config{Endpoint: m.Endpoint, Bucket: bucket, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		Mode: "compliance", Retention: testRetention}
}

// TestBucketChecks: a missing bucket and one without Object Lock are
// refused with a message saying how to create one; create_bucket makes a
// locked one.
func TestBucketChecks(t *testing.T) {
	m := testenv.StartMinIO(t)
	ctx := context.Background()

	_, err := Open(ctx, testConfig(m, "missing"))
	for _, want := range []string{`bucket "missing" does not exist`, "mc mb --with-lock ALIAS/missing",
		"aws s3api create-bucket --bucket missing --object-lock-enabled-for-bucket", "create_bucket: true"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing bucket: error %v, want %q", err, want)
		}
	}

	plain := testConfig(m, "plain")
	if err := MakeBucket(ctx, plain, false); err != nil {
		t.Fatal(err)
	}
	plain.CreateBucket = true // never turns a bucket without lock into one
	_, err = Open(ctx, plain)
	for _, want := range []string{`bucket "plain"`, "does not have Object Lock enabled", "mc mb --with-lock"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bucket without lock: error %v, want %q", err, want)
		}
	}

	created := testConfig(m, "created")
	created.CreateBucket = true
	c, err := Open(ctx, created)
	if err != nil {
		t.Fatalf("create_bucket: %v", err)
	}
	if status, _, _, _, err := c.mc.GetObjectLockConfig(ctx, "created"); err != nil || status != "Enabled" {
		t.Errorf("created bucket's Object Lock: %q, %v", status, err)
	}
	if _, err := Open(ctx, testConfig(m, "created")); err != nil {
		t.Errorf("reopening the created bucket: %v", err)
	}
}

// TestObjectLockHolds: a closed stream is uploaded with the configured
// retention, reads back and verifies from the bucket; its locked versions
// can neither be deleted nor overwritten, and a replacement put without
// retention is named by CheckRetention.
func TestObjectLockHolds(t *testing.T) {
	c := openTestBucket(t)
	ctx := context.Background()
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Client: c, Spool: spool}
	rec, pub := newRecorder(t, up.Store())
	before := time.Now()
	id := recordSession(t, rec, 5)
	if up.Pending() != 1 {
		t.Fatalf("pending after Close = %d, want 1", up.Pending())
	}
	if err := up.UploadPending(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(spool.Dir, "sessions", id+UploadedSuffix)); err != nil {
		t.Errorf("no upload marker: %v", err)
	}

	// What the bucket holds is the stream, byte for byte, and verifies.
	want, _ := spool.Lines(recorder.KindSession, id)
	got, err := c.Lines(recorder.KindSession, id)
	if err != nil || len(got) != len(want) || !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) {
		t.Fatalf("lines from S3: %d lines, %v; want %d", len(got), err, len(want))
	}
	if rep, err := recorder.VerifyStored(c, recorder.KindSession, id, pub); err != nil || rep.Manifest == nil {
		t.Fatalf("verify from S3: %v", err)
	}
	if ids, err := c.List(recorder.KindSession); err != nil || len(ids) != 1 || ids[0] != id {
		t.Errorf("List = %v, %v", ids, err)
	}
	if err := c.CheckRetention(recorder.KindSession, id); err != nil {
		t.Errorf("CheckRetention: %v", err)
	}

	// Retention reads back as configured.
	chunk, _ := ChunkKey(recorder.KindSession, id, 0)
	manifest, _ := ManifestKey(recorder.KindSession, id)
	for _, key := range []string{chunk, manifest} {
		mode, until, err := c.mc.GetObjectRetention(ctx, c.bucket, key, "")
		if err != nil {
			t.Fatalf("retention of %s: %v", key, err)
		}
		if *mode != minio.Compliance {
			t.Errorf("%s: mode %s, want COMPLIANCE", key, *mode)
		}
		if lo, hi := before.Add(testRetention-time.Minute), time.Now().Add(testRetention+time.Minute); until.Before(lo) || until.After(hi) {
			t.Errorf("%s: retain until %s, want about now + %s", key, until, testRetention)
		}
	}

	// The locked version cannot be deleted, with or without a governance
	// bypass, nor its retention shortened.
	info, err := c.mc.StatObject(ctx, c.bucket, chunk, minio.StatObjectOptions{})
	if err != nil || info.VersionID == "" {
		t.Fatalf("stat %s: version %q, %v", chunk, info.VersionID, err)
	}
	for _, bypass := range []bool{false, true} {
		err := c.mc.RemoveObject(ctx, c.bucket, chunk, minio.RemoveObjectOptions{VersionID: info.VersionID, GovernanceBypass: bypass})
		if err == nil {
			t.Fatalf("deleting the locked version (bypass %v) succeeded", bypass)
		}
		t.Logf("delete refused (bypass %v): %v", bypass, err)
	}
	shorter := time.Now().Add(time.Minute)
	mode := minio.Compliance
	err = c.mc.PutObjectRetention(ctx, c.bucket, chunk, minio.PutObjectRetentionOptions{
		VersionID: info.VersionID, Mode: &mode, RetainUntilDate: &shorter, GovernanceBypass: true})
	if err == nil {
		t.Error("shortening the retention succeeded")
	}

	// Overwriting puts a new version beside the locked one, which stays as it
	// was; the replacement, put without retention, is what verify names.
	forged := []byte(`{"forged":true}` + "\n")
	if _, err := c.mc.PutObject(ctx, c.bucket, chunk, bytes.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put a new version: %v", err)
	}
	obj, err := c.mc.GetObject(ctx, c.bucket, chunk, minio.GetObjectOptions{VersionID: info.VersionID})
	if err != nil {
		t.Fatal(err)
	}
	orig, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(orig, append(bytes.Join(want, []byte("\n")), '\n')) {
		t.Errorf("the locked version changed: %v\n%s", err, orig)
	}
	err = c.CheckRetention(recorder.KindSession, id)
	if !errors.Is(err, ErrNotLocked) || !strings.Contains(err.Error(), chunk) {
		t.Errorf("CheckRetention after an overwrite: %v, want the chunk named", err)
	}
	if _, err := recorder.VerifyStored(c, recorder.KindSession, id, pub); err == nil {
		t.Error("the forged latest version verified")
	}
	// A delete without a version id only hides the object behind a delete
	// marker: the locked version is still there.
	if err := c.mc.RemoveObject(ctx, c.bucket, manifest, minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("delete marker: %v", err)
	}
	for v := range c.mc.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: manifest, WithVersions: true}) {
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		if !v.IsDeleteMarker {
			if _, until, err := c.mc.GetObjectRetention(ctx, c.bucket, manifest, v.VersionID); err != nil || until == nil {
				t.Errorf("manifest version %s: %v", v.VersionID, err)
			}
			return
		}
	}
	t.Error("the manifest's locked version is gone")
}

// TestUploaderResumes: streams closed before the uploader ran (a restart)
// are uploaded when it starts; a stream without a manifest is not; an
// upload repeated after a crash puts no second version.
func TestUploaderResumes(t *testing.T) {
	c := openTestBucket(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spool := recorder.FileStore{Dir: t.TempDir()}
	rec, pub := newRecorder(t, spool) // the spool alone: nothing is uploaded yet
	a, b := recordSession(t, rec, 1), recordSession(t, rec, 2)
	open, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	open.Emit("session.start", map[string]string{})
	defer open.Close()

	up := &Uploader{Client: c, Spool: spool}
	go up.Run(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range []string{a, b} {
		for {
			if _, err := os.Stat(filepath.Join(spool.Dir, "sessions", id+UploadedSuffix)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not uploaded after 30s", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := recorder.VerifyStored(c, recorder.KindSession, id, pub); err != nil {
			t.Errorf("verify %s from S3: %v", id, err)
		}
	}
	if ids, _ := c.List(recorder.KindSession); len(ids) != 2 {
		t.Errorf("bucket holds %v, want only the two closed streams", ids)
	}

	// Uploading again (a crash between the put and the marker) adds no version.
	os.Remove(filepath.Join(spool.Dir, "sessions", a+UploadedSuffix))
	up.enqueue(recorder.KindSession, a)
	if err := up.UploadPending(ctx); err != nil {
		t.Fatal(err)
	}
	prefix, _ := Prefix(recorder.KindSession, a)
	versions := 0
	for v := range c.mc.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		versions++
	}
	if versions != 2 {
		t.Errorf("%d object versions under %s, want 2 (chunk and manifest)", versions, prefix)
	}
}
