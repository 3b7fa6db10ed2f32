package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
)

// The bundle's fixed names.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.sig"
	ReadmeFile    = "README.txt"
	// Namespace is the SSHSIG namespace of manifest.sig (ssh-keygen -Y
	// verify -n): a signature made for a bundle is good for nothing else.
	Namespace = "gatehouse-evidence"
	// Generator names the program in the manifest.
	Generator = "gatehouse evidence"
	// SigningKeyConsole is Manifest.SigningKey of a bundle the console
	// signed with its own key (console.signing_key), which holds no
	// recorder private key.
	SigningKeyConsole = "console"
)

// Options are what Build needs besides the recordings.
type Options struct {
	Scope Scope
	// Args are the parameters exactly as the producer gave them; the
	// manifest repeats them.
	Args []string
	Lag  time.Duration // as for recorder.Filter.MayMatch
	// Keys are the trusted recorder public keys each session is
	// verified with; Signer signs the manifest: the recorder key
	// (`gatehouse evidence`), or the console's own key (/evidence).
	Keys []ed25519.PublicKey
	// Keyring, when set, verifies instead of Keys: the recorder key and
	// the keys rotated out (recording.trusted_keys), each held to its
	// not_after. The manifest lists its keys.
	Keyring *recorder.Keyring
	Signer  ed25519.PrivateKey
	// SigningKey says in the manifest which of gatehouse's keys Signer
	// is: SigningKeyConsole, or "" for the recorder key (the field is then
	// left out, as in bundles made before the console made any).
	SigningKey string
	Store      StoreInfo
	// Lock reads Object Lock from the bucket (nil: a directory store,
	// whose sessions' object_lock is "none").
	Lock ObjectLock
	// TempDir is where the populations are spooled while the bundle is
	// made ("": os.TempDir()); nothing is left there after Build.
	TempDir  string
	Version  string
	Producer string
	Now      time.Time
}

// Manifest is manifest.json.
type Manifest struct {
	Generator  string     `json:"generator"`
	Version    string     `json:"version"`
	Source     StoreInfo  `json:"source"`
	Parameters Parameters `json:"parameters"`
	Producer   string     `json:"producer"`
	ProducedAt string     `json:"produced_at"`
	SignedBy   string     `json:"signed_by"` // the fingerprint of the key of manifest.sig
	// SigningKey is which key that is: "console" for a bundle the
	// console made; absent for the recorder key.
	SigningKey string `json:"signing_key,omitempty"`
	Files      []File `json:"files"`
}

// StoreInfo is where the recordings were read, and the recorder keys
// their sessions were verified with.
type StoreInfo struct {
	Store        string      `json:"store"` // file or s3
	Dir          string      `json:"dir,omitempty"`
	Bucket       string      `json:"bucket,omitempty"`
	Endpoint     string      `json:"endpoint,omitempty"`
	RecorderKeys []SourceKey `json:"recorder_keys"`
}

// Parameters are the producer's arguments as given, and the period and
// scope they resolved to.
type Parameters struct {
	Args       []string `json:"args"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	Identities []string `json:"identities"`
	Targets    []string `json:"targets"`
	// Within is the console viewer's own limit (Scope.Within.Text), when
	// the bundle was narrowed to what an external auditor's link shows.
	Within string `json:"within,omitempty"`
}

// File is one file of the bundle as the manifest describes it. Rows are
// data rows: a CSV's records after its header, a JSON Lines file's or the
// README's lines.
type File struct {
	Name   string `json:"name"`
	Rows   int    `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Build writes the bundle of opts.Scope to w as a zip, and returns its
// manifest. The statements are written to a temporary file in
// opts.TempDir as the sessions are read, and every population goes
// through one, so that the period is never held in memory whole.
func Build(w io.Writer, src Source, opts Options) (*Manifest, error) {
	if opts.keyring().Len() == 0 || opts.Signer == nil {
		return nil, fmt.Errorf("evidence: a recorder key to verify sessions with and one to sign the manifest are required")
	}
	var spools []*spool
	defer func() {
		for _, s := range spools {
			s.remove()
		}
	}()
	p, err := newPopulations(opts.TempDir, &spools)
	if err != nil {
		return nil, err
	}
	if err := collect(src, opts, p); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	files, err := p.files(opts)
	if err != nil {
		return nil, err
	}
	m := opts.manifest(files, p.keySessions)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("evidence: encoding the manifest: %w", err)
	}
	data = append(data, '\n')
	sig, err := signManifest(opts.Signer, data)
	if err != nil {
		return nil, err
	}
	files = append(files, dataFile{name: ManifestFile, data: data}, dataFile{name: SignatureFile, data: sig})
	return &m, writeZip(w, files)
}

// newPopulations starts the populations written as they are read, in
// dir.
func newPopulations(dir string, spools *[]*spool) (*populations, error) {
	p := &populations{dir: dir, spools: spools, keySessions: map[string]int{},
		denials: newSorter(dir, "denials", func(a, b denialRow) int {
			return inRecordOrder(a.Time, a.Stream, a.Seq, b.Time, b.Stream, b.Seq)
		}, spools),
		exceptions: newSorter(dir, "exceptions", func(a, b heldException) int { return compareExceptions(a.Row, b.Row) }, spools),
		// All equal: kept on disk in the order added (exposure.csv lists
		// the refusals as read, after the masked columns).
		refused: newSorter(dir, "refused", func(a, b audit.ExposureRow) int { return 0 }, spools),
		report:  newReportLines(dir, spools)}
	var err error
	if p.sessions, err = newTable[sessionRow](dir, "sessions", sessionHeader, spools); err != nil {
		return nil, err
	}
	if p.statements, err = newTable[statementRow](dir, "statements", statementHeader, spools); err != nil {
		return nil, err
	}
	if p.verification, err = newTable[verificationRow](dir, "verification", verificationHeader, spools); err != nil {
		return nil, err
	}
	return p, nil
}

// files are the bundle's files but the manifest and its signature, in
// the order the zip holds them.
func (p *populations) files(opts Options) ([]dataFile, error) {
	dir, spools := opts.TempDir, p.spools
	files := []dataFile{{name: ReadmeFile, data: []byte(readme), rows: strings.Count(readme, "\n")}}
	add := func(f []dataFile, err error) error {
		files = append(files, f...)
		return err
	}
	err := errors.Join(
		add(p.sessions.files()),
		add(p.statements.files()),
		add(sortedFiles(dir, "denials", denialHeader, p.denials, func(r denialRow) (denialRow, error) { return r, nil }, spools)),
		add(p.verification.files()),
		add(tableFiles(dir, "issuances", issuanceHeader, p.issuances, spools)),
		add(tableFiles(dir, "requests", requestHeader, p.requests.finish(), spools)),
		add(tableFiles(dir, "revocations", revocationHeader, p.revocations.done, spools)),
		add(p.exceptionFiles()),
		add(p.exposureFiles()),
		add(tableFiles(dir, "activity", activityHeader, p.activity, spools)),
		add(tableFiles(dir, "completeness", completenessHeader, p.completeness, spools)))
	if err != nil {
		return nil, err
	}
	lock, err := lockFile(opts.Lock, opts.Store)
	if err != nil {
		return nil, err
	}
	if err := p.report.masked(p.masked); err != nil {
		return nil, err
	}
	rep, err := p.reportFile(opts.Scope)
	if err != nil {
		return nil, err
	}
	return append(files, lock, rep), nil
}

// exceptionFiles are exceptions.csv and .jsonl; each exception is also
// added to the report under its identity, with its rank.
func (p *populations) exceptionFiles() ([]dataFile, error) {
	rank := 0
	return sortedFiles(p.dir, "exceptions", exceptionHeader, p.exceptions, func(ex heldException) (exceptionRow, error) {
		rank++
		return ex.Row, p.report.exception(rank-1, ex)
	}, p.spools)
}

// exposureFiles are exposure.csv and .jsonl: the masked columns, then
// the statements masking rules refused.
func (p *populations) exposureFiles() ([]dataFile, error) {
	t, err := newTable[exposureRow](p.dir, "exposure", exposureHeader, p.spools)
	if err != nil {
		return nil, err
	}
	for _, r := range p.exposure.Rows() {
		if err := t.add(exposureRow{r}); err != nil {
			return nil, err
		}
	}
	if err := p.refused.each(func(r audit.ExposureRow) error { return t.add(exposureRow{r}) }); err != nil {
		return nil, err
	}
	return t.files()
}

func (o Options) manifest(files []dataFile, keySessions map[string]int) Manifest {
	m := Manifest{Generator: Generator, Version: o.Version, Source: o.Store, Producer: o.Producer, ProducedAt: utc(o.Now),
		SignedBy: recorder.Fingerprint(o.Signer.Public().(ed25519.PublicKey)), SigningKey: o.SigningKey,
		Parameters: Parameters{Args: orEmpty(o.Args), From: utc(o.Scope.From), To: utc(o.Scope.To),
			Identities: orEmpty(o.Scope.Identities), Targets: orEmpty(o.Scope.Targets)}}
	if w := o.Scope.Within; w != nil {
		m.Parameters.Within = w.Text
	}
	m.Source.RecorderKeys = sourceKeys(o.keyring(), keySessions)
	for _, f := range files {
		size, sum := f.digest()
		m.Files = append(m.Files, File{Name: f.name, Rows: f.rows, Bytes: size, SHA256: hex.EncodeToString(sum)})
	}
	return m
}

// dataFile is one file of the bundle: in memory (data), or in a spool.
type dataFile struct {
	name  string
	data  []byte
	spool *spool
	rows  int
}

type row interface{ cells() []string }

func (f dataFile) digest() (int64, []byte) {
	if f.spool != nil {
		return f.spool.n, f.spool.hash.Sum(nil)
	}
	sum := sha256.Sum256(f.data)
	return int64(len(f.data)), sum[:]
}

func (f dataFile) contents() (io.Reader, error) {
	if f.spool != nil {
		return f.spool.contents()
	}
	return bytes.NewReader(f.data), nil
}

// writeZip writes files in order, without times (which would make two
// bundles of the same data differ).
func writeZip(w io.Writer, files []dataFile) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate})
		if err != nil {
			return fmt.Errorf("evidence: writing %s: %w", f.name, err)
		}
		r, err := f.contents()
		if err == nil {
			_, err = io.Copy(fw, r)
		}
		if err != nil {
			return fmt.Errorf("evidence: writing %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("evidence: writing the zip: %w", err)
	}
	return nil
}

// signManifest is the SSHSIG of the manifest by key, armored as
// `ssh-keygen -Y sign` writes it.
func signManifest(key ed25519.PrivateKey, manifest []byte) ([]byte, error) {
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("evidence: the signing key: %w", err)
	}
	blob, err := sshsig.Sign(rand.Reader, signer, Namespace, manifest)
	if err != nil {
		return nil, fmt.Errorf("evidence: signing the manifest: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString(blob)
	var out strings.Builder
	out.WriteString(armorBegin + "\n")
	for len(b64) > 70 {
		out.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	out.WriteString(b64 + "\n" + armorEnd + "\n")
	return []byte(out.String()), nil
}

const (
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
)
