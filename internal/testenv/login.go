package testenv

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// CompleteAuthCodeLogin plays the user's browser for an authorization code
// login (with PKCE, as a CLI does it): it opens authURL, fills Dex's login
// form with email and password, and follows the redirects until the
// redirect_uri of the authorization request (the CLI's loopback listener)
// has been requested, which is what completes the CLI's login. The
// loopback's own answer must not be an HTTP error.
//
// authURL may be Dex's authorization endpoint itself or any URL that
// redirects to it. On failure (a wrong password, an unregistered redirect
// URI, an error redirected back to the client) the error carries the text of
// the page the IdP showed.
func (i *IdP) CompleteAuthCodeLogin(ctx context.Context, authURL, email, password string) error {
	jar, _ := cookiejar.New(nil)
	return i.CompleteAuthCodeLoginIn(ctx, jar, authURL, email, password)
}

// CompleteAuthCodeLoginIn is CompleteAuthCodeLogin in a browser whose
// cookies are jar's: the session cookie a web application's redirect URI
// sets stays in jar for the test's next requests.
func (i *IdP) CompleteAuthCodeLoginIn(ctx context.Context, jar http.CookieJar, authURL, email, password string) error {
	b := newBrowser(jar)
	if u, err := url.Parse(authURL); err == nil {
		b.observe(u)
	}
	p, err := b.do(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	credsSent := false
	for step := 0; step < maxLoginSteps; step++ {
		if b.callback != nil {
			if e := b.callback.Query().Get("error"); e != "" {
				return fmt.Errorf("the IdP sent an error to the redirect URI: %s: %s",
					e, b.callback.Query().Get("error_description"))
			}
			if p.status >= 400 {
				return fmt.Errorf("the redirect URI %s answered %d: %s", p.url.Redacted(), p.status, p.text())
			}
			return nil
		}
		next, err := b.step(ctx, p, email, password, "", &credsSent, nil)
		if err != nil {
			return err
		}
		p = next
	}
	return fmt.Errorf("no redirect to the client after %d pages; last page %s: %s", maxLoginSteps, p.url.Redacted(), p.text())
}

// CompleteDeviceLogin plays the user's browser for a device authorization
// grant (RFC 8628): it opens verificationURI (verification_uri or
// verification_uri_complete), submits userCode, logs in with email and
// password and follows through to Dex's "Login Successful" page, after which
// the device's token request succeeds. On failure (an unknown user code, a
// wrong password) the error carries the text of the page the IdP showed.
func (i *IdP) CompleteDeviceLogin(ctx context.Context, verificationURI, userCode, email, password string) error {
	jar, _ := cookiejar.New(nil)
	b := newBrowser(jar)
	p, err := b.do(ctx, http.MethodGet, verificationURI, nil)
	if err != nil {
		return err
	}
	credsSent, codeSent := false, false
	for step := 0; step < maxLoginSteps; step++ {
		if p.status == http.StatusOK && strings.HasSuffix(p.url.Path, "/device/callback") &&
			strings.Contains(p.body, "Login Successful") {
			return nil
		}
		next, err := b.step(ctx, p, email, password, userCode, &credsSent, &codeSent)
		if err != nil {
			return err
		}
		p = next
	}
	return fmt.Errorf("no device login success page after %d pages; last page %s: %s", maxLoginSteps, p.url.Redacted(), p.text())
}

const maxLoginSteps = 12

// browser is a minimal web browser for Dex's pages: a cookie jar, redirects,
// and HTML forms.
type browser struct {
	client      *http.Client
	redirectURI *url.URL // of the authorization request, once seen
	callback    *url.URL // the request to redirectURI, once made
}

func newBrowser(jar http.CookieJar) *browser {
	b := &browser{}
	b.client = &http.Client{
		Jar: jar,
		Transport: &http.Transport{
			Proxy:       nil, // everything is on this machine
			DialContext: (&net.Dialer{}).DialContext,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 20 {
				return errors.New("stopped after 20 redirects")
			}
			b.observe(req.URL)
			return nil
		},
	}
	return b
}

// observe notes the redirect_uri of an authorization request, and whether u
// is the request to it.
func (b *browser) observe(u *url.URL) {
	q := u.Query()
	if r := q.Get("redirect_uri"); r != "" && q.Get("client_id") != "" {
		if ru, err := url.Parse(r); err == nil && ru.IsAbs() {
			b.redirectURI = ru
		}
	}
	if b.redirectURI != nil && b.callback == nil && u.Scheme == b.redirectURI.Scheme &&
		u.Host == b.redirectURI.Host && u.Path == b.redirectURI.Path && u.Query().Get("client_id") == "" {
		b.callback = u
	}
}

type page struct {
	url    *url.URL
	status int
	body   string
}

// text is the page's visible text, for error messages.
func (p *page) text() string {
	s := reHead.ReplaceAllString(p.body, " ")
	s = reScript.ReplaceAllString(s, " ")
	s = reTag.ReplaceAllString(s, " ")
	s = strings.Join(strings.Fields(html.UnescapeString(s)), " ")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	if s == "" {
		s = "(empty page)"
	}
	return fmt.Sprintf("[HTTP %d] %s", p.status, s)
}

func (b *browser) do(ctx context.Context, method, rawURL string, form url.Values) (*page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("login: %s %s: %w", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("login: reading %s: %w", resp.Request.URL.Redacted(), err)
	}
	return &page{url: resp.Request.URL, status: resp.StatusCode, body: string(data)}, nil
}

// step acts on one of Dex's pages: the user code form, the login form, the
// approval form, or the connector list.
func (b *browser) step(ctx context.Context, p *page, email, password, userCode string, credsSent, codeSent *bool) (*page, error) {
	forms := parseForms(p.body)
	if *credsSent && findForm(forms, "password", "") != nil {
		return nil, fmt.Errorf("login as %q failed: %s", email, p.text())
	}
	if p.status >= 400 {
		return nil, fmt.Errorf("the IdP answered %s with an error: %s", p.url.Redacted(), p.text())
	}
	if f := findForm(forms, "password", ""); f != nil {
		*credsSent = true
		v := f.values()
		v.Set("login", email)
		v.Set("password", password)
		return b.submit(ctx, p, f, v)
	}
	if f := findForm(forms, "user_code", ""); f != nil && codeSent != nil {
		if *codeSent {
			return nil, fmt.Errorf("the user code %q was not accepted: %s", userCode, p.text())
		}
		*codeSent = true
		v := f.values()
		if userCode != "" {
			v.Set("user_code", userCode)
		}
		return b.submit(ctx, p, f, v)
	}
	if f := findForm(forms, "approval", "approve"); f != nil {
		return b.submit(ctx, p, f, f.values())
	}
	// Several connectors: choose the local (password) one.
	for _, m := range reHref.FindAllStringSubmatch(p.body, -1) {
		href := html.UnescapeString(m[1])
		if strings.Contains(href, "/auth/local") {
			u, err := p.url.Parse(href)
			if err != nil {
				return nil, err
			}
			return b.do(ctx, http.MethodGet, u.String(), nil)
		}
	}
	return nil, fmt.Errorf("unexpected page from the IdP at %s: %s", p.url.Redacted(), p.text())
}

func (b *browser) submit(ctx context.Context, p *page, f *form, v url.Values) (*page, error) {
	target, err := p.url.Parse(f.action)
	if err != nil {
		return nil, fmt.Errorf("login: bad form action %q: %w", f.action, err)
	}
	if f.action == "" {
		target = p.url
	}
	method := http.MethodPost
	if strings.EqualFold(f.method, "get") {
		method = http.MethodGet
		u := *target
		u.RawQuery = v.Encode()
		return b.do(ctx, method, u.String(), nil)
	}
	return b.do(ctx, method, target.String(), v)
}

type form struct {
	method, action string
	inputs         [][2]string // name, value
}

func (f *form) values() url.Values {
	v := url.Values{}
	for _, in := range f.inputs {
		v.Add(in[0], in[1])
	}
	return v
}

var (
	reForm   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	reInput  = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	reAttr   = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))`)
	reHref   = regexp.MustCompile(`(?i)<a\b[^>]*\bhref\s*=\s*"([^"]*)"`)
	reHead   = regexp.MustCompile(`(?is)<head\b.*?</head>`)
	reScript = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)>`)
	reTag    = regexp.MustCompile(`(?s)<[^>]*>`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range reAttr.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

func parseForms(body string) []*form {
	var forms []*form
	for _, m := range reForm.FindAllStringSubmatch(body, -1) {
		fa := attrs(m[1])
		f := &form{method: fa["method"], action: fa["action"]}
		for _, in := range reInput.FindAllStringSubmatch(m[2], -1) {
			ia := attrs(in[1])
			if ia["name"] == "" {
				continue
			}
			f.inputs = append(f.inputs, [2]string{ia["name"], ia["value"]})
		}
		forms = append(forms, f)
	}
	return forms
}

// findForm returns the first form with an input named name (and, if value is
// not empty, that value).
func findForm(forms []*form, name, value string) *form {
	for _, f := range forms {
		for _, in := range f.inputs {
			if in[0] == name && (value == "" || in[1] == value) {
				return f
			}
		}
	}
	return nil
}
