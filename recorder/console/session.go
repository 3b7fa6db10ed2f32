package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// sessionCookie names the console session. The __Host- prefix makes a
// browser accept it only Secure, from a secure origin, without Domain and
// with Path=/ (RFC 6265bis §4.1.3.2): no other host can set or shadow it.
// Browsers count http://127.0.0.1 and http://localhost as secure origins,
// so the loopback console works without TLS.
const sessionCookie = "__Host-gatehouse_console"

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sessionRef names a session in the activity stream without giving away
// its cookie: the first 16 bytes of its SHA-256.
func sessionRef(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// setCookie sets a __Host- cookie: Secure, HttpOnly, Path=/, no Domain;
// SameSite=Strict, except the login cookie (see loginCookie). maxAge < 0
// deletes it.
func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		MaxAge: int(maxAge / time.Second)}
	if name == loginCookie {
		c.SameSite = http.SameSiteLaxMode
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// viewer is who holds a console session: an auditor who logged in at the
// IdP (Scope nil: every session), or an external auditor who came with a
// link (Scope: only the sessions the link allows).
type viewer struct {
	event.Auditor
	Scope *Link
}

// allows says whether the viewer may see session s.
func (v viewer) allows(s recorder.Summary) bool { return v.Scope == nil || v.Scope.Allows(s) }

// allowsTarget says whether a filter on target stays inside the viewer's
// scope ("" is no filter).
func (v viewer) allowsTarget(target string) bool {
	return target == "" || v.Scope == nil || len(v.Scope.Targets) == 0 || slices.Contains(v.Scope.Targets, target)
}

// auditor wraps a page for logged-in auditors: without a valid session the
// browser is sent to log in.
func (c *Console) auditor(page func(http.ResponseWriter, *http.Request, viewer)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(sessionCookie)
		if err != nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		a, ok := c.sessions.get(ck.Value)
		if !ok {
			setCookie(w, sessionCookie, "", -1)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		page(w, r, a)
	})
}

// ScopeText is the viewer's scope for reading: the period and targets.
func (v viewer) ScopeText() string {
	if v.Scope == nil {
		return "all"
	}
	return v.Scope.ScopeText()
}
