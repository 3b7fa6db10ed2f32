package console

import (
	"crypto/ed25519"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Activity records what auditors do. A *recorder.Stream is one. Emit must
// return only once the event is written: a page is served only after its
// view is recorded.
type Activity interface {
	Emit(typ event.Type, data any) error
}

// Config is the console's wiring. Fields marked required make New fail
// when missing.
type Config struct {
	// Sessions is where recordings are read: recorder.FileStore, or the
	// S3 bucket. Required.
	Sessions recorder.SummarySource
	// Index, when set, is what the lists read instead of reading and
	// verifying every recording on each request: built from Sessions
	// and verified with Keys. nil: the lists read the store.
	Index SessionIndex
	// Keys are the trusted recorder keys each listed session is verified
	// with; none lists sessions unverified (their chain is still checked).
	Keys []ed25519.PublicKey
	// Keyring, when set, is what verifies instead of Keys: the recorder
	// key with the keys rotated out (recording.trusted_keys), each held
	// to its not_after.
	Keyring *recorder.Keyring
	// Lag is how long after the time in its id a session may start
	// (recorder.Filter.MayMatch): the bastion's handshake timeout.
	Lag time.Duration
	// Locks reads the Object Lock of the stored objects (the S3 store),
	// shown on each session's page as read at view time; nil: the store
	// has none (a directory), and the page says so.
	Locks ObjectLocks
	// UploadGrace is how long after it opened a session that a ledger
	// registers may be absent from Sessions before it counts as missing
	// from the store; until then it is "not uploaded yet". With the S3
	// store sessions arrive some seconds after they open
	// (recording.upload_grace); 0 (the directory store, which the bastion
	// writes directly) counts every absent session missing at once.
	UploadGrace time.Duration
	// Login signs auditors in at the IdP; nil refuses every OIDC login
	// (no identity.oidc): only Links then let anyone in, and one of the
	// two is required.
	Login *Login
	// AuditorGroups: an ID token's groups must name one. Required.
	AuditorGroups []string
	// SessionTTL is how long a login lasts; 0 means 8h.
	SessionTTL time.Duration
	// Activity records every view, export, login and refusal. Required:
	// what an auditor sees is never unrecorded.
	Activity Activity
	// Spool is where console streams are written (recording.dir), read
	// by /activity besides the console streams of Sessions: with an S3
	// store, this console's own open stream is only there. nil: Sessions
	// only.
	Spool StreamSource
	// Links are the single-use links for external auditors; nil: /link/
	// refuses every link.
	Links *LinkStore
	// Origin is the console's own origin, scheme://host[:port], which a
	// logout's Origin header must equal. Required.
	Origin string
	// FailedAttemptsPerMinute is how many refused logins and logouts one
	// source may make a minute (each given back when it succeeds); 0
	// means DefaultFailedAttemptsPerMinute.
	FailedAttemptsPerMinute int
	// PageSize is how many sessions a page shows; 0 means 100.
	PageSize int
	// ParseTime reads the since and until filters, given now, as
	// `gatehouse sessions` reads --since and --until; nil accepts RFC
	// 3339 times only.
	ParseTime func(s string, now time.Time) (time.Time, error)
	// Evidence builds evidence bundles (/evidence); nil: none.
	Evidence *Evidence
	// Clock, if nil, is time.Now.
	Clock func() time.Time
	// Logger receives failures to record or read; nil is slog.Default().
	Logger *slog.Logger
}

// Console serves the console's routes. Create it with New.
type Console struct {
	cfg      Config
	sessions *ttlMap[viewer]       // console sessions by cookie value
	logins   *ttlMap[pendingLogin] // logins begun, by state
	limiter  *sourcelimit.Limiter  // refused logins and logouts, per source
	mux      *http.ServeMux
}

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{"text": recorder.Printable, "choices": choices}).ParseFS(assets, "assets/*.html"))

// choice is one option of a filter's select.
type choice struct {
	Value, Label string
	Selected     bool
}

// choices are a select's options from value, label pairs, the one whose
// value is current selected.
func choices(current string, pairs ...string) []choice {
	var out []choice
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, choice{pairs[i], pairs[i+1], pairs[i] == current})
	}
	return out
}

// New checks cfg and returns the console.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.Sessions == nil || cfg.Activity == nil:
		return nil, errors.New("console: Sessions and Activity are required")
	case cfg.Login == nil && cfg.Links == nil:
		return nil, errors.New("console: Login or Links is required (nobody could get in)")
	case len(cfg.AuditorGroups) == 0:
		return nil, errors.New("console: AuditorGroups is required (a console anyone may read is not an auditor's)")
	case cfg.Origin == "":
		return nil, errors.New("console: Origin is required (logout checks it)")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.FailedAttemptsPerMinute <= 0 {
		cfg.FailedAttemptsPerMinute = DefaultFailedAttemptsPerMinute
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Links != nil && cfg.Links.Clock == nil {
		links := *cfg.Links
		links.Clock = cfg.Clock
		cfg.Links = &links
	}
	c := &Console{cfg: cfg, sessions: newTTLMap[viewer](cfg.Clock), logins: newTTLMap[pendingLogin](cfg.Clock),
		limiter: sourcelimit.New(cfg.FailedAttemptsPerMinute, maxPendingAttempts, cfg.Clock)}
	c.mux = http.NewServeMux()
	c.mux.Handle("/{$}", c.auditor(c.showOverview))
	c.mux.HandleFunc("/login", c.startLogin)
	c.mux.HandleFunc("/callback", c.limited(c.callback))
	c.mux.HandleFunc("/logout", c.limited(c.logout))
	c.mux.HandleFunc("/link/{token}", c.limited(c.exchangeLink))
	c.mux.Handle("/sessions", c.auditor(c.listSessions))
	c.mux.Handle("/sessions/{id}", c.auditor(c.sessionPage))
	c.mux.Handle("/sessions/{id}/raw", c.auditor(c.rawSession))
	c.mux.Handle("/sessions/{id}/replay", c.auditor(c.replayPage))
	c.mux.Handle("/sessions/{id}/timeline.json", c.auditor(c.timelineJSON))
	c.mux.Handle("/statements", c.auditor(c.listStatements))
	c.mux.Handle("/requests", c.auditor(c.listRequests))
	c.mux.Handle("/identities", c.auditor(c.listIdentities))
	c.mux.Handle("/identities/{id}", c.auditor(c.identityPage))
	c.mux.Handle("/exposure", c.auditor(c.listExposure))
	c.mux.Handle("/activity", c.auditor(c.listActivity))
	c.mux.Handle("/evidence", c.auditor(c.evidencePage))
	c.mux.Handle("/evidence/bundle.zip", c.auditor(c.evidenceBundle))
	c.mux.Handle("/static/", http.FileServerFS(staticFS()))
	return c, nil
}

// ServeHTTP sets the security headers on every answer, errors included,
// and refuses every method but GET, and POST on /logout.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer a browser sends
	// "Origin: null" with a form's POST, and the logout, which checks the
	// Origin, would refuse every real browser. Nothing leaves for another
	// site either way.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	allowed := http.MethodGet
	if r.URL.Path == "/logout" {
		allowed = http.MethodPost
	}
	if r.Method != allowed {
		h.Set("Allow", allowed)
		http.Error(w, "method not allowed: the console is read-only", http.StatusMethodNotAllowed)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows nothing but the console's own stylesheet
// and scripts (the replay's, which fetches its timeline from the console:
// connect-src 'self'): no inline script or style, no eval, no framing,
// no plugins, no <base>, and forms only to the console itself.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'"

// record writes an activity event; a failure is logged and refuses what
// was to be shown (fail closed).
func (c *Console) record(w http.ResponseWriter, typ event.Type, data any) bool {
	if err := c.cfg.Activity.Emit(typ, data); err != nil {
		c.cfg.Logger.Error("console: recording auditor activity failed; the page is refused", "type", typ, "error", err)
		http.Error(w, "the console cannot record this view, so it does not show it; see the console's log", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// render executes a page template; data holds text only (templates escape
// it, after the text function has made controls visible).
func (c *Console) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		c.cfg.Logger.Warn("console: rendering a page failed", "page", name, "error", err)
	}
}

// unreadable answers a page whose recordings could not be read: 502, the
// cause in the log only.
func (c *Console) unreadable(w http.ResponseWriter, what string, err error) {
	c.cfg.Logger.Error("console: reading "+what+" failed", "error", err)
	c.fail(w, http.StatusBadGateway, "the recordings could not be read; see the console's log")
}

// fail shows an error page with a text message.
func (c *Console) fail(w http.ResponseWriter, status int, message string) {
	c.render(w, status, "error.html", struct{ Status, Message string }{http.StatusText(status), message})
}

// keyring is what the console verifies sessions with: Keyring, else Keys.
func (c *Console) keyring() *recorder.Keyring {
	if c.cfg.Keyring != nil {
		return c.cfg.Keyring
	}
	return recorder.Trust(c.cfg.Keys...)
}
