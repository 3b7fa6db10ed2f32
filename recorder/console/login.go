package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// LoginConfig is how auditors log in: the IdP of identity.oidc and the
// console's client there.
type LoginConfig struct {
	Issuer   string
	ClientID string
	// ClientSecret is a confidential client's secret; empty for a public
	// client, which PKCE alone protects.
	ClientSecret string
	// RedirectURL is the console's /callback as the IdP has it registered.
	RedirectURL string
	// GroupsClaim names the ID token claim listing the user's groups;
	// empty means "groups".
	GroupsClaim string
	// Scopes asked for; openid is added when missing. Empty means openid
	// email profile groups.
	Scopes []string
}

// Login runs the authorization code flow with PKCE (RFC 7636, S256)
// against the IdP and checks the ID token it returns.
type Login struct {
	oauth       oauth2.Config
	verifier    *oidc.IDTokenVerifier
	groupsClaim string
}

// NewLogin discovers the IdP (OpenID Connect Discovery 1.0 §4). ctx must
// outlive the Login: go-oidc fetches the IdP's keys with it later.
func NewLogin(ctx context.Context, c LoginConfig) (*Login, error) {
	if c.Issuer == "" || c.ClientID == "" || c.RedirectURL == "" {
		return nil, errors.New("console: login: issuer, client id and redirect URL are required")
	}
	provider, err := oidc.NewProvider(ctx, c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("console: discover OIDC issuer %s: %w", c.Issuer, err)
	}
	endpoint := provider.Endpoint()
	if c.ClientSecret == "" {
		endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client names itself in the body
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{"email", "profile", "groups"}
	}
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	claim := c.GroupsClaim
	if claim == "" {
		claim = "groups"
	}
	return &Login{
		oauth: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: endpoint,
			RedirectURL: c.RedirectURL, Scopes: scopes},
		// go-oidc checks the signature, iss, aud = ClientID and exp.
		verifier:    provider.Verifier(&oidc.Config{ClientID: c.ClientID}),
		groupsClaim: claim,
	}, nil
}

// loginCookie binds a login in progress to the browser that started it
// (its value is the state), so that a callback URL handed to another
// browser logs nobody in there (login CSRF). It is SameSite=Lax: the
// IdP's redirect back is a cross-site navigation, which Strict would strip.
const loginCookie = "__Host-gatehouse_console_login"

// loginTTL bounds how long a user may take at the IdP.
const loginTTL = 10 * time.Minute

// noOIDC is why a console without identity.oidc refuses OIDC logins.
const noOIDC = "logging in with OpenID Connect is off: the configuration has no identity.oidc; " +
	"this console admits only external auditors with a single-use link (gatehouse console link)"

// pendingLogin is what the callback needs of the login it completes.
type pendingLogin struct{ nonce, verifier string }

// startLogin sends the browser to the IdP.
func (c *Console) startLogin(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Login == nil {
		c.fail(w, http.StatusForbidden, noOIDC)
		return
	}
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	c.logins.put(state, pendingLogin{nonce: nonce, verifier: verifier}, loginTTL)
	setCookie(w, loginCookie, state, loginTTL)
	lc := c.cfg.Login.oauth
	http.Redirect(w, r, lc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

// refusal is a login refused, with the auditor when the token named one.
type refusal struct {
	status  int
	reason  string
	auditor *event.Auditor
}

func (e *refusal) Error() string { return e.reason }

// callback completes a login: the state must be the one this browser
// started, the code is exchanged with the PKCE verifier, and the ID token
// must verify, carry the login's nonce and name an auditor group.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) bool {
	setCookie(w, loginCookie, "", -1)
	a, groups, err := c.completeLogin(r)
	if err != nil {
		ref := &refusal{status: http.StatusForbidden, reason: err.Error()} // fail closed on any error
		errors.As(err, &ref)
		if c.record(w, event.TypeConsoleRefused, event.ConsoleRefused{Auditor: ref.auditor, Path: "/callback", Reason: ref.reason, ClientAddr: r.RemoteAddr}) {
			c.fail(w, ref.status, "login refused: "+ref.reason)
		}
		return false
	}
	id := randomToken()
	c.sessions.put(id, viewer{Auditor: a}, c.cfg.SessionTTL)
	if !c.record(w, event.TypeConsoleLogin, event.ConsoleLogin{Auditor: a, Groups: groups, Session: sessionRef(id), ClientAddr: r.RemoteAddr}) {
		c.sessions.take(id)
		return false
	}
	setCookie(w, sessionCookie, id, c.cfg.SessionTTL)
	// A page, not a redirect: the navigation here began at the IdP, and a
	// browser would not send the SameSite=Strict cookie on a redirect
	// that a cross-site navigation started.
	c.render(w, http.StatusOK, "loggedin.html", nil)
	return true
}

// completeLogin checks the callback and returns who logged in.
func (c *Console) completeLogin(r *http.Request) (event.Auditor, []string, error) {
	if c.cfg.Login == nil {
		return event.Auditor{}, nil, &refusal{status: http.StatusForbidden, reason: noOIDC}
	}
	q := r.URL.Query()
	state := q.Get("state")
	ck, err := r.Cookie(loginCookie)
	if state == "" || err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		return event.Auditor{}, nil, &refusal{status: http.StatusBadRequest, reason: "state mismatch: this browser did not start this login"}
	}
	pending, ok := c.logins.take(state)
	if !ok {
		return event.Auditor{}, nil, &refusal{status: http.StatusBadRequest, reason: "state mismatch: unknown, used or expired login"}
	}
	if e := q.Get("error"); e != "" {
		return event.Auditor{}, nil, &refusal{status: http.StatusForbidden, reason: fmt.Sprintf("the identity provider answered %.100q: %.200q", e, q.Get("error_description"))}
	}
	tok, err := c.cfg.Login.oauth.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(pending.verifier))
	if err != nil {
		return event.Auditor{}, nil, &refusal{status: http.StatusForbidden, reason: fmt.Sprintf("code exchange failed: %.300v", err)}
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := c.cfg.Login.verifier.Verify(r.Context(), raw)
	if err != nil {
		return event.Auditor{}, nil, &refusal{status: http.StatusForbidden, reason: fmt.Sprintf("the ID token does not verify: %.300v", err)}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.nonce)) != 1 {
		return event.Auditor{}, nil, &refusal{status: http.StatusForbidden, reason: "nonce mismatch: the ID token is not for this login"}
	}
	return c.admit(idt)
}

// admit turns a verified ID token into an auditor: identified by issuer
// and subject, and a member of an auditor group. A token without the
// groups claim is refused: membership cannot be shown, so it fails closed.
func (c *Console) admit(idt *oidc.IDToken) (event.Auditor, []string, error) {
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil || idt.Subject == "" {
		return event.Auditor{}, nil, &refusal{status: http.StatusForbidden, reason: "the ID token has no subject or unreadable claims"}
	}
	a := event.Auditor{Issuer: idt.Issuer, Subject: idt.Subject}
	_ = json.Unmarshal(claims["email"], &a.Email)
	claim := c.cfg.Login.groupsClaim
	rawGroups, ok := claims[claim]
	var groups []string
	if !ok || json.Unmarshal(rawGroups, &groups) != nil {
		return a, nil, &refusal{status: http.StatusForbidden, auditor: &a,
			reason: fmt.Sprintf("the ID token has no %q claim listing groups, so membership of an auditor group cannot be shown", claim)}
	}
	for _, g := range groups {
		if slices.Contains(c.cfg.AuditorGroups, g) {
			return a, groups, nil
		}
	}
	return a, nil, &refusal{status: http.StatusForbidden, auditor: &a, reason: "not a member of console.auditor_groups"}
}

// logout ends the session. It must come from a page of the console
// itself: the Origin header (sent by browsers on every POST) must be the
// console's origin.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) bool {
	if origin := r.Header.Get("Origin"); origin != c.cfg.Origin {
		if c.record(w, event.TypeConsoleRefused, event.ConsoleRefused{Path: "/logout", Reason: fmt.Sprintf("logout from origin %.200q, not the console's", origin), ClientAddr: r.RemoteAddr}) {
			c.fail(w, http.StatusForbidden, "logout refused: it did not come from the console's own pages")
		}
		return false
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if v, ok := c.sessions.take(ck.Value); ok {
			if !c.record(w, event.TypeConsoleLogout, event.ConsoleLogout{Auditor: v.Auditor, Session: sessionRef(ck.Value)}) {
				return false
			}
		}
	}
	setCookie(w, sessionCookie, "", -1)
	c.render(w, http.StatusOK, "loggedout.html", nil)
	return true
}
