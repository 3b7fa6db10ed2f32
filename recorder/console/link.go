package console

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// exchangeLink is GET /link/TOKEN: a single-use link becomes a console
// session limited to the link's period and targets, then the browser goes
// on to /sessions. A link already used, expired or unknown is refused
// (403) and recorded, never its token.
func (c *Console) exchangeLink(w http.ResponseWriter, r *http.Request) bool {
	token := r.PathValue("token")
	ref := LinkRef(token)
	l, err := c.useLink(token)
	if err != nil {
		if c.record(w, event.TypeConsoleRefused, event.ConsoleRefused{Path: "/link", Reason: "link " + ref + ": " + err.Error(), ClientAddr: r.RemoteAddr}) {
			c.fail(w, http.StatusForbidden, "link refused: "+err.Error()+"; ask whoever sent it for a new one")
		}
		return false
	}
	v := viewer{Auditor: event.Auditor{Issuer: "link:" + ref, Subject: l.Identity}, Scope: &l}
	id := randomToken()
	c.sessions.put(id, v, c.linkSessionTTL(l))
	used := event.ConsoleLinkUsed{Auditor: v.Auditor, Link: ref, From: l.From, To: l.To, Targets: l.Targets, Session: sessionRef(id), ClientAddr: r.RemoteAddr}
	if !c.record(w, event.TypeConsoleLinkUsed, used) {
		c.sessions.take(id)
		return false
	}
	setCookie(w, sessionCookie, id, c.linkSessionTTL(l))
	// The link may arrive from a mail or chat (a cross-site navigation):
	// a page, as after a login, so that the Strict cookie is sent next.
	c.render(w, http.StatusOK, "loggedin.html", nil)
	return true
}

// useLink exchanges token in the store, if the console has one.
func (c *Console) useLink(token string) (Link, error) {
	if c.cfg.Links == nil {
		return Link{}, ErrLinkUnknown
	}
	l, err := c.cfg.Links.Exchange(token)
	if err != nil && !errors.Is(err, ErrLinkUnknown) && !errors.Is(err, ErrLinkUsed) && !errors.Is(err, ErrLinkExpired) {
		c.cfg.Logger.Error("console: reading the link store failed", "error", err)
	}
	return l, err
}

// linkSessionTTL is how long a link's session lasts: console.session_ttl,
// but never past the link's own expiry.
func (c *Console) linkSessionTTL(l Link) time.Duration {
	return min(c.cfg.SessionTTL, l.Expires.Sub(c.cfg.Clock()))
}
