package console

import (
	"archive/zip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"github.com/gatehouse-dev/gatehouse/recorder/evidence"
)

// Limits of /evidence/bundle.zip: a bundle reads every recording of its
// period, so both its period and how many are built at once are bounded.
const (
	// DefaultMaxEvidencePeriod is the longest period a bundle from the
	// console may cover: a year's audit period and a month's margin.
	DefaultMaxEvidencePeriod = 400 * 24 * time.Hour
	// DefaultEvidenceBuilds is how many bundles a console builds at once,
	// every auditor together; each auditor builds one at a time.
	DefaultEvidenceBuilds = 2
	// evidenceRetryAfter is the Retry-After of a bundle refused as busy.
	evidenceRetryAfter = 30 * time.Second
)

// Evidence is how the console builds evidence bundles (/evidence): the
// same bundle as `gatehouse evidence`, from Config.Sessions, verified
// with Config.Keys, and signed with the console's own key. A nil
// Config.Evidence answers /evidence with 404.
type Evidence struct {
	// Signer signs each bundle's manifest: the console key
	// (console.signing_key), never the recorder key, which a console must
	// not hold. The manifest says so (signing_key "console"). Required.
	Signer ed25519.PrivateKey
	// Store describes in the manifest where the recordings were read.
	Store evidence.StoreInfo
	// Lock reads Object Lock from the bucket; nil for a directory store.
	Lock evidence.ObjectLock
	// TempDir is where each bundle is built, in a directory of its own
	// removed once the bundle is sent (the console's data_dir, not a
	// tmpfs: a period's statements can be large). Required.
	TempDir string
	// Version is the manifest's generator version.
	Version string
	// MaxPeriod bounds a bundle's period; 0 means DefaultMaxEvidencePeriod.
	MaxPeriod time.Duration
	// Builds is how many bundles are built at once; 0 means
	// DefaultEvidenceBuilds.
	Builds int

	mu      sync.Mutex
	running int
	busy    map[event.Auditor]bool // auditors with a bundle being built
}

// acquire takes a build slot for a; false when a already builds one or
// every slot is taken.
func (e *Evidence) acquire(a event.Auditor) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	builds := e.Builds
	if builds <= 0 {
		builds = DefaultEvidenceBuilds
	}
	if e.busy[a] || e.running >= builds {
		return false
	}
	if e.busy == nil {
		e.busy = map[event.Auditor]bool{}
	}
	e.busy[a] = true
	e.running++
	return true
}

func (e *Evidence) release(a event.Auditor) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.busy, a)
	e.running--
}

func (e *Evidence) maxPeriod() time.Duration {
	if e.MaxPeriod <= 0 {
		return DefaultMaxEvidencePeriod
	}
	return e.MaxPeriod
}

// evidenceParams are the parameters /evidence/bundle.zip takes.
var evidenceParams = []string{"from", "to", "identity", "target"}

// bundleRequest is a bundle's parameters, read and checked.
type bundleRequest struct {
	scope evidence.Scope
	args  []string // the parameters as given, name=value, for the manifest
	given url.Values
}

// parseBundleRequest reads from and to (RFC 3339 or dates, as
// `gatehouse evidence` reads them), identity and target (each
// repeatable, or comma-separated); anything else is refused.
func parseBundleRequest(r *http.Request, maxPeriod time.Duration) (bundleRequest, error) {
	in := r.URL.Query()
	for name := range in {
		if !slices.Contains(evidenceParams, name) {
			return bundleRequest{}, fmt.Errorf("unknown parameter %q: a bundle takes %s", name, strings.Join(evidenceParams, ", "))
		}
	}
	for _, name := range []string{"from", "to"} {
		if len(in[name]) != 1 || in.Get(name) == "" {
			return bundleRequest{}, fmt.Errorf("give %s once: an RFC 3339 time or a date", name)
		}
	}
	var b bundleRequest
	var err error
	if b.scope.From, err = evidence.ParseBound(in.Get("from"), false); err != nil {
		return b, fmt.Errorf("from: %w", err)
	}
	if b.scope.To, err = evidence.ParseBound(in.Get("to"), true); err != nil {
		return b, fmt.Errorf("to: %w", err)
	}
	if !b.scope.From.Before(b.scope.To) {
		return b, errors.New("from must be before to")
	}
	if b.scope.To.Sub(b.scope.From) > maxPeriod {
		return b, fmt.Errorf("the period is longer than the %d days a bundle from the console may cover; make several", int(maxPeriod.Hours()/24))
	}
	b.scope.Identities, b.scope.Targets = listParam(in["identity"]), listParam(in["target"])
	b.given = url.Values{"from": {in.Get("from")}, "to": {in.Get("to")}}
	for _, name := range evidenceParams {
		for _, v := range in[name] {
			b.args = append(b.args, name+"="+v)
		}
	}
	return b, nil
}

// listParam is a repeatable parameter's values, each split at commas,
// trimmed, without empty ones.
func listParam(values []string) []string {
	var out []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" && !slices.Contains(out, part) {
				out = append(out, part)
			}
		}
	}
	return out
}

// outsideScope says why a link's viewer may not have the bundle of sc
// ("" when they may): its period must lie within the link's, and it must
// name targets, every one the link's. Refused, not clamped: a bundle
// whose parameters differ from those asked for would mislead its reader.
func (v viewer) outsideScope(sc evidence.Scope) string {
	l := v.Scope
	switch {
	case l == nil:
		return ""
	case !l.From.IsZero() && sc.From.Before(l.From), !l.To.IsZero() && sc.To.After(l.To):
		return "the period is outside your link's (" + l.ScopeText() + ")"
	case len(l.Targets) > 0 && len(sc.Targets) == 0:
		return "your link is limited to targets " + strings.Join(l.Targets, ", ") + ": name them"
	}
	for _, t := range sc.Targets {
		if len(l.Targets) > 0 && !slices.Contains(l.Targets, t) {
			return "target " + t + " is outside your link's (" + l.ScopeText() + ")"
		}
	}
	return ""
}

// producer names the auditor in the manifest: issuer and subject, or
// the link's identity and reference.
func (v viewer) producer() string {
	if v.Scope != nil {
		return "external auditor " + v.Subject + " (console " + v.Issuer + ")"
	}
	p := "auditor " + v.Subject + " at " + v.Issuer
	if v.Email != "" {
		p += " <" + v.Email + ">"
	}
	return p + " (console)"
}

// evidencePage is GET /evidence: the form that asks for a bundle.
func (c *Console) evidencePage(w http.ResponseWriter, r *http.Request, v viewer) {
	e := c.cfg.Evidence
	if e == nil {
		c.fail(w, http.StatusNotFound, "this console makes no evidence bundles")
		return
	}
	if len(r.URL.Query()) > 0 {
		c.fail(w, http.StatusBadRequest, "the form takes no parameters; it submits to /evidence/bundle.zip")
		return
	}
	if !c.record(w, event.TypeConsoleView, event.ConsoleView{Auditor: v.Auditor, Path: "/evidence"}) {
		return
	}
	c.render(w, http.StatusOK, "evidence.html", struct {
		Viewer  viewer
		MaxDays int
	}{v, int(e.maxPeriod().Hours() / 24)})
}

// evidenceBundle is GET /evidence/bundle.zip: builds the bundle in a
// directory of its own, records the export with its manifest's SHA-256,
// then sends it. Nothing is sent unless the export was recorded.
func (c *Console) evidenceBundle(w http.ResponseWriter, r *http.Request, v viewer) {
	e := c.cfg.Evidence
	if e == nil {
		c.fail(w, http.StatusNotFound, "this console makes no evidence bundles")
		return
	}
	b, err := parseBundleRequest(r, e.maxPeriod())
	if err != nil {
		c.fail(w, http.StatusBadRequest, "evidence bundle: "+err.Error())
		return
	}
	if why := v.outsideScope(b.scope); why != "" {
		a := v.Auditor
		if c.record(w, event.TypeConsoleRefused, event.ConsoleRefused{Auditor: &a, Path: "/evidence/bundle.zip", Reason: why, ClientAddr: r.RemoteAddr}) {
			c.fail(w, http.StatusForbidden, "evidence bundle refused: "+why)
		}
		return
	}
	if c.keyring().Len() == 0 {
		c.fail(w, http.StatusServiceUnavailable, "this console has no recorder public key to verify sessions with, so it makes no bundles")
		return
	}
	if !e.acquire(v.Auditor) {
		w.Header().Set("Retry-After", strconv.Itoa(int(evidenceRetryAfter.Seconds())))
		c.fail(w, http.StatusTooManyRequests, "a bundle is being built already (yours, or as many as the console builds at once); try again shortly")
		return
	}
	defer e.release(v.Auditor)
	c.buildAndSend(w, r, e, b, v)
}

// buildAndSend builds the bundle of b into a temporary directory under
// e.TempDir, which it removes, and sends it once its export is recorded.
func (c *Console) buildAndSend(w http.ResponseWriter, r *http.Request, e *Evidence, b bundleRequest, v viewer) {
	dir, err := os.MkdirTemp(e.TempDir, ".evidence-*")
	if err != nil {
		c.evidenceFailed(w, "creating the build directory", err)
		return
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "bundle.zip"))
	if err != nil {
		c.evidenceFailed(w, "creating the bundle", err)
		return
	}
	defer f.Close()
	if v.Scope != nil {
		b.scope.Within = &evidence.Within{Text: "external auditor's link: sessions " + v.Scope.ScopeText() + "; only its own console activity",
			Session: v.Scope.Allows, Auditor: v.Auditor}
	}
	m, err := evidence.Build(f, c.cfg.Sessions, evidence.Options{Scope: b.scope, Args: b.args, Lag: c.cfg.Lag, Keyring: c.keyring(),
		Signer: e.Signer, SigningKey: evidence.SigningKeyConsole, Store: e.Store, Lock: e.Lock, TempDir: dir,
		Version: e.Version, Producer: v.producer(), Now: c.cfg.Clock().UTC()})
	if err != nil {
		c.evidenceFailed(w, "building the bundle", err)
		return
	}
	size, sum, err := manifestDigest(f)
	if err != nil {
		c.evidenceFailed(w, "reading the bundle back", err)
		return
	}
	rec := event.ConsoleExport{Auditor: v.Auditor, Path: "/evidence/bundle.zip", Format: "zip", Filters: b.filters(), Rows: sessionRows(m), SHA256: sum}
	if !c.record(w, event.TypeConsoleExport, rec) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+bundleName(b.scope)+`"`)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if _, err := io.Copy(w, io.NewSectionReader(f, 0, size)); err != nil {
		c.cfg.Logger.Warn("console: sending an evidence bundle failed", "error", err)
	}
}

func (c *Console) evidenceFailed(w http.ResponseWriter, doing string, err error) {
	c.cfg.Logger.Error("console: evidence bundle: "+doing+" failed", "error", err)
	c.fail(w, http.StatusBadGateway, "the bundle could not be made; see the console's log")
}

// manifestDigest is the size of the zip f and the SHA-256 of the
// manifest.json it holds: what the export records is what was sent.
func manifestDigest(f *os.File) (int64, string, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return 0, "", err
	}
	mf, err := zr.Open(evidence.ManifestFile)
	if err != nil {
		return 0, "", err
	}
	defer mf.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(mf, evidence.MaxManifestBytes)); err != nil {
		return 0, "", err
	}
	return st.Size(), hex.EncodeToString(h.Sum(nil)), nil
}

// filters are the bundle's parameters as the activity stream records them.
func (b bundleRequest) filters() map[string]string {
	f := map[string]string{"from": b.given.Get("from"), "to": b.given.Get("to")}
	if len(b.scope.Identities) > 0 {
		f["identity"] = strings.Join(b.scope.Identities, ",")
	}
	if len(b.scope.Targets) > 0 {
		f["target"] = strings.Join(b.scope.Targets, ",")
	}
	return f
}

// sessionRows is how many sessions the bundle holds.
func sessionRows(m *evidence.Manifest) int {
	for _, f := range m.Files {
		if f.Name == "sessions.csv" {
			return f.Rows
		}
	}
	return 0
}

// bundleName is the download's file name: the period in UTC, digits and
// letters only, so that no header or path can be injected through it.
func bundleName(sc evidence.Scope) string {
	const compact = "20060102T150405Z"
	return "gatehouse-evidence-" + sc.From.UTC().Format(compact) + "-" + sc.To.UTC().Format(compact) + ".zip"
}
