package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// Limits of VerifyBundle, so that a hostile zip (a declared size of
// terabytes, a deflate bomb) costs bounded time and memory.
const (
	// MaxManifestBytes bounds manifest.json and manifest.sig, which are
	// read whole.
	MaxManifestBytes = 64 << 20
	// MaxFileBytes bounds each data file, which is streamed through the
	// hash and the row count.
	MaxFileBytes = 64 << 30
)

// Problem is one difference VerifyBundle found, naming the file.
type Problem struct {
	File   string
	Reason string
}

func (p Problem) String() string { return p.File + ": " + p.Reason }

// Result is what VerifyBundle established.
type Result struct {
	Manifest *Manifest // nil when manifest.json could not be read
	SignedBy string    // the fingerprint of the key manifest.sig verified with; empty if none did
	Problems []Problem // empty when the bundle verified
}

// VerifyBundle checks a bundle offline: its entry names (flat, unique),
// manifest.sig against keys, and every file the manifest lists against
// its SHA-256 and row count, and that no file was added. An error means
// the bundle could not be checked at all (not a zip, an unsafe entry
// name); differences are Result.Problems.
func VerifyBundle(r io.ReaderAt, size int64, keys []ed25519.PublicKey) (*Result, error) {
	return verifyBundle(r, size, keys, MaxFileBytes)
}

func verifyBundle(r io.ReaderAt, size int64, keys []ed25519.PublicKey, maxFile int64) (*Result, error) {
	if len(keys) == 0 {
		return nil, errors.New("evidence: verify: no recorder public key to verify the manifest with")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("evidence: reading the bundle: %w", err)
	}
	entries, err := indexEntries(zr.File)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	manifest, sig := res.readWhole(entries, ManifestFile), res.readWhole(entries, SignatureFile)
	if manifest == nil || sig == nil {
		return res, nil
	}
	res.checkSignature(manifest, sig, keys)
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		res.problem(ManifestFile, "not a manifest: "+err.Error())
		return res, nil
	}
	res.Manifest = &m
	res.checkFiles(entries, m.Files, maxFile)
	return res, nil
}

// indexEntries maps the zip's entries by name, refusing any name that
// is not a plain file name (absolute, with a directory or "..", or a
// backslash) and any name given twice: an unzip could write such an
// entry outside its directory, or show a different file than was checked.
func indexEntries(files []*zip.File) (map[string]*zip.File, error) {
	entries := make(map[string]*zip.File, len(files))
	for _, f := range files {
		if !safeName(f.Name) {
			return nil, fmt.Errorf("evidence: the bundle holds an entry named %q: only plain file names are allowed", recorder.Printable(f.Name))
		}
		if _, dup := entries[f.Name]; dup {
			return nil, fmt.Errorf("evidence: the bundle holds two entries named %q", f.Name)
		}
		entries[f.Name] = f
	}
	return entries, nil
}

func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\:`) &&
		path.Clean(name) == name && !strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f })
}

func (res *Result) problem(file, reason string) {
	res.Problems = append(res.Problems, Problem{File: file, Reason: reason})
}

// readWhole reads a small entry, noting a problem (and returning nil)
// when it is missing, too large or unreadable.
func (res *Result) readWhole(entries map[string]*zip.File, name string) []byte {
	f, ok := entries[name]
	if !ok {
		res.problem(name, "missing")
		return nil
	}
	if f.UncompressedSize64 > MaxManifestBytes {
		res.problem(name, fmt.Sprintf("declares %d bytes, more than the %d allowed", f.UncompressedSize64, MaxManifestBytes))
		return nil
	}
	rc, err := f.Open()
	if err != nil {
		res.problem(name, "unreadable: "+err.Error())
		return nil
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxManifestBytes+1))
	if err != nil || len(data) > MaxManifestBytes {
		res.problem(name, fmt.Sprintf("unreadable or larger than %d bytes: %v", MaxManifestBytes, err))
		return nil
	}
	return data
}

// checkSignature verifies manifest.sig, the armored SSHSIG of
// manifest.json, with each key in turn.
func (res *Result) checkSignature(manifest, sig []byte, keys []ed25519.PublicKey) {
	blob, err := dearmor(sig)
	if err != nil {
		res.problem(SignatureFile, err.Error())
		return
	}
	var last error
	for _, k := range keys {
		pub, err := ssh.NewPublicKey(k)
		if err != nil {
			last = err
			continue
		}
		if last = sshsig.Verify(pub, Namespace, manifest, blob); last == nil {
			res.SignedBy = recorder.Fingerprint(k)
			return
		}
	}
	res.problem(SignatureFile, "not a signature of manifest.json by any given key: "+last.Error())
}

func dearmor(sig []byte) ([]byte, error) {
	body, ok := bytes.CutPrefix(bytes.TrimSpace(sig), []byte(armorBegin))
	if body, ok2 := bytes.CutSuffix(body, []byte(armorEnd)); ok && ok2 {
		blob, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		if err != nil {
			return nil, fmt.Errorf("not an SSH signature: %w", err)
		}
		return blob, nil
	}
	return nil, errors.New("not an armored SSH signature")
}

// checkFiles compares every listed file with its entry, and lists
// entries the manifest does not.
func (res *Result) checkFiles(entries map[string]*zip.File, files []File, maxFile int64) {
	listed := map[string]bool{ManifestFile: true, SignatureFile: true}
	for _, want := range files {
		if !safeName(want.Name) || listed[want.Name] {
			res.problem(ManifestFile, fmt.Sprintf("lists %q, not a plain file name or listed twice", recorder.Printable(want.Name)))
			continue
		}
		listed[want.Name] = true
		f, ok := entries[want.Name]
		if !ok {
			res.problem(want.Name, "missing")
			continue
		}
		if reason := checkFile(f, want, maxFile); reason != "" {
			res.problem(want.Name, reason)
		}
	}
	for name := range entries {
		if !listed[name] {
			res.problem(name, "not listed in the manifest")
		}
	}
	sortProblems(res.Problems)
}

// checkFile streams one entry through SHA-256 and its row count, and
// says how it differs from want ("" when it does not).
func checkFile(f *zip.File, want File, maxFile int64) string {
	if f.UncompressedSize64 > uint64(maxFile) {
		return fmt.Sprintf("declares %d bytes, more than the %d allowed", f.UncompressedSize64, maxFile)
	}
	rc, err := f.Open()
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer rc.Close()
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(io.LimitReader(rc, maxFile+1), h)}
	rows, err := countRows(want.Name, counted)
	switch {
	case counted.n > maxFile:
		return fmt.Sprintf("more than the %d bytes allowed", maxFile)
	case err != nil:
		return "unreadable: " + err.Error()
	case counted.n != want.Bytes:
		return fmt.Sprintf("%d bytes, the manifest says %d", counted.n, want.Bytes)
	case hex.EncodeToString(h.Sum(nil)) != want.SHA256:
		return "SHA-256 differs from the manifest's"
	case rows != want.Rows:
		return fmt.Sprintf("%d rows, the manifest says %d", rows, want.Rows)
	}
	return ""
}

// countRows counts a file's rows as the manifest does, reading it to
// the end: a CSV's records after the header, other files' lines.
func countRows(name string, r io.Reader) (int, error) {
	if strings.HasSuffix(name, ".csv") {
		cr := csv.NewReader(r)
		cr.FieldsPerRecord = -1
		n := 0
		for {
			_, err := cr.Read()
			if err == io.EOF {
				return max(n-1, 0), nil
			}
			if err != nil {
				return 0, err
			}
			n++
		}
	}
	n := 0
	br := bufio.NewReader(r)
	for {
		_, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			n++
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			return n, nil
		default:
			return 0, err
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sortProblems orders problems by file, so that a report reads the same
// whatever the map order.
func sortProblems(p []Problem) {
	slices.SortStableFunc(p, func(a, b Problem) int { return strings.Compare(a.File, b.File) })
}
