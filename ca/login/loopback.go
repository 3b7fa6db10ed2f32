package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

const callbackPath = "/callback"

// AuthorizationError is an error response of the identity provider's
// authorization endpoint (RFC 6749 §4.1.2.1), e.g. access_denied.
type AuthorizationError struct {
	Code        string
	Description string
}

func (e *AuthorizationError) Error() string {
	if e.Description == "" {
		return "identity provider refused the login: " + e.Code
	}
	return "identity provider refused the login: " + e.Code + ": " + e.Description
}

// ErrStateMismatch is returned when the login callback carries a state other
// than the one this login sent: a stale browser tab, or a forged request.
var ErrStateMismatch = errors.New("login callback has the wrong state (a stale browser tab or a forged request); run gatehouse login again")

// loopbackReceiver is the redirect target of RFC 8252 §7.3: an HTTP server on
// 127.0.0.1, on a port the system chose, for exactly one authorization
// response. The browser's request is held open until finish reports the
// outcome, so the tab says whether the login worked.
type loopbackReceiver struct {
	state  string
	ln     net.Listener
	srv    *http.Server
	served chan error // Serve's return

	claimed   atomic.Bool
	responses chan authResponse // capacity 1: only the claiming request sends

	finishOnce sync.Once
	done       chan struct{} // closed by finish; outcome is set before
	outcome    error
}

// authResponse is what the redirect brought: a code or an error.
type authResponse struct {
	code string
	err  error
}

// listenLoopback starts the receiver.
func listenLoopback(state string) (*loopbackReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("login: listen for the login callback on 127.0.0.1: %w", err)
	}
	r := &loopbackReceiver{
		state:     state,
		ln:        ln,
		served:    make(chan error, 1),
		responses: make(chan authResponse, 1),
		done:      make(chan struct{}),
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { r.served <- r.srv.Serve(ln) }()
	return r, nil
}

func (r *loopbackReceiver) redirectURL() string {
	return "http://" + r.ln.Addr().String() + callbackPath
}

// wait returns the authorization code, or why there is none.
func (r *loopbackReceiver) wait(ctx context.Context) (string, error) {
	select {
	case resp := <-r.responses:
		if resp.err != nil {
			r.finish(resp.err)
		}
		return resp.code, resp.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// finish settles the outcome shown in the browser tab.
func (r *loopbackReceiver) finish(err error) {
	r.finishOnce.Do(func() {
		r.outcome = err
		close(r.done)
	})
}

// close answers any held request and stops the server.
func (r *loopbackReceiver) close() {
	r.finish(errors.New("the login was abandoned"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.srv.Close()
	}
	<-r.served
}

func (r *loopbackReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != callbackPath {
		http.NotFound(w, req) // e.g. /favicon.ico
		return
	}
	if !r.claimed.CompareAndSwap(false, true) {
		writePage(w, http.StatusConflict, "This login was already handled", "Run gatehouse login again if you need to.")
		return
	}
	resp := parseAuthResponse(req.URL.Query(), r.state)
	r.responses <- resp
	select {
	case <-r.done:
	case <-req.Context().Done():
		return
	}
	if r.outcome != nil {
		writePage(w, http.StatusBadRequest, "gatehouse login failed", r.outcome.Error())
		return
	}
	writePage(w, http.StatusOK, "You are logged in to gatehouse", "You are logged in to gatehouse; you can close this tab.")
}

// parseAuthResponse reads the redirect (RFC 6749 §4.1.2). The state is
// checked first, so that a forged request cannot even show an error.
func parseAuthResponse(q url.Values, state string) authResponse {
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return authResponse{err: ErrStateMismatch}
	}
	if code := q.Get("error"); code != "" {
		return authResponse{err: &AuthorizationError{Code: code, Description: q.Get("error_description")}}
	}
	if q.Get("code") == "" {
		return authResponse{err: errors.New("login callback has neither a code nor an error")}
	}
	return authResponse{code: q.Get("code")}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

func writePage(w http.ResponseWriter, status int, title, message string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	pageTemplate.Execute(w, struct{ Title, Message string }{title, message})
}
