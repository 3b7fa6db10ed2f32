// Package s3store keeps gatehouse's recordings in an S3 bucket with Object
// Lock, so that nobody who can write to the recordings can delete or
// rewrite them before their retention ends.
//
// The local file store stays the spool: events are appended durably to
// data_dir first, exactly as with the file store. An Uploader puts each
// stream into the bucket while it is written and once it is closed:
//
//	KIND/YYYY/MM/DD/ID/000000.jsonl   the stream's first complete lines
//	KIND/YYYY/MM/DD/ID/000001.jsonl   the lines after those, and so on
//	KIND/YYYY/MM/DD/ID/manifest.json  its signed manifest, put last
//
// (KIND is sessions or ca, the date is the stream's opening day in UTC, read
// from its id), every object with the configured retention mode and a
// retain-until date of now plus the retention. The chunks of a stream,
// concatenated in order, are its spool file byte for byte; each ends with
// a whole line. A manifest in the bucket means every chunk is there. The
// spool records its progress in KIND/ID.upload (chunks put, bytes they
// hold) and, once the manifest is put, marks the stream KIND/ID.uploaded,
// so that a restart resumes with what is left. Uploader.KeepUploaded after
// that mark, the stream leaves the spool (Uploader.Prune).
package s3store

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// ManifestObject is the name of a stream's manifest inside its prefix.
const ManifestObject = "manifest.json"

// chunkDigits is how many digits a chunk number has in its object name.
const chunkDigits = 6

// Prefix is the folder of a stream's objects: KIND/YYYY/MM/DD/ID/. The
// date is the UTC day the stream was opened, from its id.
func Prefix(kind, id string) (string, error) {
	if err := checkName(kind); err != nil {
		return "", err
	}
	if err := checkName(id); err != nil {
		return "", err
	}
	t, ok := recorder.IDTime(id)
	if !ok {
		return "", fmt.Errorf("s3store: stream id %q does not begin with its time", id)
	}
	return path.Join(kind, t.Format("2006/01/02"), id) + "/", nil
}

// ChunkKey is the object name of chunk n of a stream.
func ChunkKey(kind, id string, n int) (string, error) {
	p, err := Prefix(kind, id)
	if err != nil {
		return "", err
	}
	return p + chunkName(n), nil
}

func chunkName(n int) string { return fmt.Sprintf("%0*d.jsonl", chunkDigits, n) }

// ManifestKey is the object name of a stream's manifest.
func ManifestKey(kind, id string) (string, error) {
	p, err := Prefix(kind, id)
	if err != nil {
		return "", err
	}
	return p + ManifestObject, nil
}

// ParseKey splits an object name of the layout into the stream's kind and
// id and the object's own name (manifest.json or NNNNNN.jsonl). ok is false
// for a name that is not of the layout.
func ParseKey(key string) (kind, id, name string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 6 {
		return "", "", "", false
	}
	kind, id, name = parts[0], parts[4], parts[5]
	if want, err := Prefix(kind, id); err != nil || want != strings.Join(parts[:5], "/")+"/" {
		return "", "", "", false
	}
	if name != ManifestObject && chunkNumber(name) < 0 {
		return "", "", "", false
	}
	return kind, id, name, true
}

// chunkNumber is n of NNNNNN.jsonl, or -1.
func chunkNumber(name string) int {
	digits, ok := strings.CutSuffix(name, ".jsonl")
	if !ok || len(digits) != chunkDigits {
		return -1
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func checkName(s string) error {
	if s == "" || strings.ContainsAny(s, `/\`) || strings.HasPrefix(s, ".") {
		return fmt.Errorf("s3store: invalid stream name %q", s)
	}
	return nil
}
