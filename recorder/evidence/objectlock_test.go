package evidence

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeLock is a bucket whose objects are each session's chunk and
// manifest, locked as until says by session id prefix; a session whose
// id starts with unlocked has a manifest without retention, one with
// unread cannot be read.
type fakeLock struct {
	unlocked, unread string
	until            time.Time
}

func (l fakeLock) Objects(kind, id string) ([]string, error) {
	if l.unread != "" && id == l.unread {
		return nil, errors.New("access denied")
	}
	return []string{kind + "/" + id + "/0001.jsonl", kind + "/" + id + "/manifest.json"}, nil
}

func (l fakeLock) Retention(key string) (string, time.Time, error) {
	if l.unlocked != "" && strings.Contains(key, l.unlocked) && strings.HasSuffix(key, "manifest.json") {
		return "", time.Time{}, nil
	}
	if strings.HasSuffix(key, "manifest.json") {
		return "COMPLIANCE", l.until.Add(time.Hour), nil
	}
	return "COMPLIANCE", l.until, nil
}

func (l fakeLock) Config() (BucketLock, error) {
	return BucketLock{Status: "Enabled", DefaultMode: "COMPLIANCE", DefaultValidity: 400, DefaultUnit: "DAYS"}, nil
}

// TestBuildObjectLock: each session's verification row carries its
// objects' Object Lock as the bucket reports it (the weakest mode, the
// earliest retain-until); an object without retention, or a lock that
// cannot be read, is an exception; objectlock.json is the bucket's
// configuration. A directory store says none, without exceptions.
func TestBuildObjectLock(t *testing.T) {
	f := newFixture(t)
	alice, bob := sessionOf(t, f, "alice@example.com"), sessionOf(t, f, "bob@example.com")
	until := time.Date(2027, 12, 1, 0, 0, 0, 0, time.UTC)
	opts := f.opts
	opts.Store = StoreInfo{Store: "s3", Bucket: "recordings"}
	opts.Lock = fakeLock{unlocked: bob, until: until}
	files := unzip(t, f.build(t, opts))
	verification := population(t, files, "verification")
	expect(t, "alice's session", rowWhere(t, verification, "session", alice), map[string]string{"object_lock": "COMPLIANCE",
		"retain_until": "2027-12-01T00:00:00Z", "locked_objects": "2/2"})
	expect(t, "bob's session", rowWhere(t, verification, "session", bob), map[string]string{"object_lock": "none",
		"locked_objects": "1/2"})
	expect(t, "bob's exception", rowWhere(t, population(t, files, "exceptions"), "kind", exNotLocked), map[string]string{"session": bob})
	var cfg BucketLock
	mustUnmarshal(t, fileData(t, files, ObjectLockFile), &cfg)
	if cfg != (BucketLock{Store: "s3", Bucket: "recordings", Status: "Enabled", DefaultMode: "COMPLIANCE", DefaultValidity: 400, DefaultUnit: "DAYS"}) {
		t.Errorf("%s: %+v", ObjectLockFile, cfg)
	}

	opts.Lock = fakeLock{unread: alice, until: until}
	files = unzip(t, f.build(t, opts))
	expect(t, "alice's unread lock", rowWhere(t, population(t, files, "verification"), "session", alice),
		map[string]string{"object_lock": "unread", "retain_until": ""})
	expect(t, "the unread exception", rowWhere(t, population(t, files, "exceptions"), "kind", exNotLocked), map[string]string{"session": alice})

	files = unzip(t, f.build(t, f.opts))
	for _, r := range population(t, files, "verification") {
		if r["object_lock"] != "none" && r["unreadable"] == nil && r["result"] != "failed" {
			t.Errorf("directory store: %v", r)
		}
	}
	for _, r := range population(t, files, "exceptions") {
		if r["kind"] == exNotLocked {
			t.Errorf("directory store: exception %v", r)
		}
	}
	var none map[string]any
	if err := json.Unmarshal(fileData(t, files, ObjectLockFile), &none); err != nil || none["status"] != "none" || none["store"] != "file" {
		t.Errorf("directory store's %s: %v %v", ObjectLockFile, none, err)
	}
}
