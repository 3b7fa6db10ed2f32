package evidence

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// ObjectLockFile is the bucket's Object Lock configuration as read when
// the bundle was made.
const ObjectLockFile = "objectlock.json"

// ObjectLock reads Object Lock from the bucket the recordings are in, as
// it stands when the bundle is made (nil in Options: a directory store,
// which nothing locks).
type ObjectLock interface {
	// Objects are the names of a stream's objects (chunks, manifest).
	Objects(kind, id string) ([]string, error)
	// Retention is an object's retention mode (GOVERNANCE, COMPLIANCE)
	// and retain-until date; "" and the zero time when it has none.
	Retention(key string) (mode string, until time.Time, err error)
	// Config is the bucket's Object Lock configuration.
	Config() (BucketLock, error)
}

// BucketLock is objectlock.json.
type BucketLock struct {
	Store           string `json:"store"` // file or s3
	Bucket          string `json:"bucket"`
	Status          string `json:"status"` // Enabled; "none" for a directory store or a bucket without Object Lock
	DefaultMode     string `json:"default_mode"`
	DefaultValidity uint   `json:"default_validity"`
	DefaultUnit     string `json:"default_unit"`
}

// lockFile is objectlock.json: the bucket's configuration, or "none" for
// a directory store.
func lockFile(lock ObjectLock, store StoreInfo) (dataFile, error) {
	cfg := BucketLock{Store: store.Store, Status: "none"}
	if lock != nil {
		var err error
		if cfg, err = lock.Config(); err != nil {
			return dataFile{}, fmt.Errorf("evidence: reading the bucket's Object Lock configuration: %w", err)
		}
		cfg.Store, cfg.Bucket = store.Store, store.Bucket
		if cfg.Status == "" {
			cfg.Status = "none"
		}
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return dataFile{}, fmt.Errorf("evidence: encoding %s: %w", ObjectLockFile, err)
	}
	data = append(data, '\n')
	return dataFile{name: ObjectLockFile, data: data, rows: countLines(data)}, nil
}

// streamLock is a session's Object Lock as the bucket reports it now:
// the weakest of its objects' (none if any has no retention, GOVERNANCE
// if any may be shortened by a privileged user, else COMPLIANCE), the
// earliest retain-until date, and how many objects are locked.
type streamLock struct {
	mode, until, locked, problem string
}

func readStreamLock(lock ObjectLock, id string) streamLock {
	if lock == nil {
		return streamLock{mode: "none"}
	}
	keys, err := lock.Objects(recorder.KindSession, id)
	if err != nil {
		return streamLock{mode: "unread", problem: err.Error()}
	}
	sl, n := streamLock{mode: "COMPLIANCE"}, 0
	var earliest time.Time
	for _, key := range keys {
		mode, until, err := lock.Retention(key)
		switch {
		case err != nil:
			return streamLock{mode: "unread", problem: err.Error()}
		case mode == "" || until.IsZero():
			sl.mode, sl.problem = "none", "object "+key+" has no retention"
			continue
		case mode != "COMPLIANCE" && sl.mode == "COMPLIANCE":
			sl.mode = mode
		}
		n++
		if earliest.IsZero() || until.Before(earliest) {
			earliest = until
		}
	}
	if len(keys) == 0 {
		return streamLock{mode: "none", problem: "the bucket holds no object of it"}
	}
	sl.until, sl.locked = utc(earliest), strconv.Itoa(n)+"/"+strconv.Itoa(len(keys))
	return sl
}

// lockException is the exception of a session in a bucket whose objects
// are not all locked, or whose lock could not be read.
func lockException(s recorder.Listed, sl streamLock) (exceptionRow, bool) {
	if !slices.Contains([]string{"none", "unread"}, sl.mode) || sl.problem == "" {
		return exceptionRow{}, false
	}
	return exceptionRow{Kind: exNotLocked, Session: s.ID, Time: utc(s.Start), Detail: "Object Lock " + sl.mode + ": " + sl.problem}, true
}

func countLines(data []byte) int {
	n := 0
	for _, b := range data {
		if b == '\n' {
			n++
		}
	}
	return n
}
