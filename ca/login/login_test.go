package login

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/internal/syncbuf"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// page is what the browser saw at the end of the redirects.
type page struct {
	status int
	body   string
	err    error
}

// testBrowser plays the user's browser: it GETs the URL Login asks it to
// open, follows the redirects to the loopback callback and keeps the page.
type testBrowser struct {
	urls  chan string
	pages chan page
}

func newTestBrowser() *testBrowser {
	return &testBrowser{urls: make(chan string, 1), pages: make(chan page, 1)}
}

// open is the Options.OpenBrowser hook.
func (b *testBrowser) open(u string) error {
	b.urls <- u
	go func() { b.pages <- get(u) }()
	return nil
}

func get(u string) page {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(u)
	if err != nil {
		return page{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body), err: err}
}

func (b *testBrowser) page(t *testing.T) page {
	t.Helper()
	select {
	case p := <-b.pages:
		if p.err != nil {
			t.Fatalf("browser: %v", p.err)
		}
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("the browser got no page")
	}
	return page{}
}

func baseOptions(t *testing.T, tca *testCA, out io.Writer) Options {
	return Options{Server: tca.srv.URL, Home: t.TempDir(), Out: out}
}

func TestLoginBrowserPKCE(t *testing.T) {
	idp := newFakeIdP(t)
	tca := newTestCA(t, testCAOptions{idp: idp})
	out := &syncbuf.Buffer{}
	browser := newTestBrowser()
	opts := baseOptions(t, tca, out)
	opts.OpenBrowser = browser.open

	res, err := Login(context.Background(), opts)
	if err != nil {
		t.Fatalf("Login: %v\noutput:\n%s", err, out)
	}
	authURL := <-browser.urls
	if p := browser.page(t); p.status != http.StatusOK || !strings.Contains(p.body, "You are logged in to gatehouse; you can close this tab") {
		t.Errorf("browser page %d %q", p.status, p.body)
	}
	if !hasLine(out.String(), "Open this URL to log in:") || !hasLine(out.String(), authURL) {
		t.Errorf("output lacks the URL on a line of its own:\n%s", out)
	}
	if got := idp.snapshot().challenges; len(got) != 1 || got[0] != "S256" {
		t.Errorf("code_challenge_method = %q, want S256", got)
	}
	if q := mustQuery(t, authURL); q.Get("state") == "" || q.Get("nonce") == "" {
		t.Errorf("authorization URL lacks state or nonce: %s", authURL)
	}
	if res.KeyID != "alice@example.com" || res.Serial == 0 || !equal(res.Principals, []string{"orders:readonly", "rawpg:direct"}) {
		t.Errorf("result %+v", res)
	}
	checkProfileFiles(t, res, tca)
	if got := tca.lastRequest().auth; !strings.HasPrefix(got, "Bearer ey") {
		t.Errorf("CA got Authorization %q, want the ID token", got)
	}
	if got := tca.rec.recorded(); !slices.Equal(got, []event.Type{event.TypeCertIssued}) {
		t.Errorf("the CA recorded %q, want one issuance", got)
	}
}

func TestLoginOutputFindsURLWithoutBrowser(t *testing.T) {
	// With NoBrowser the user copies the URL from the output; so does this test.
	tca := newTestCA(t, testCAOptions{idp: newFakeIdP(t)})
	out := &syncbuf.Buffer{}
	opts := baseOptions(t, tca, out)
	opts.NoBrowser = true
	opts.OpenBrowser = func(string) error { t.Error("NoBrowser opened a browser"); return nil }
	pages := make(chan page, 1)
	go func() {
		u := waitForURL(t, out)
		pages <- get(u)
	}()
	if _, err := Login(context.Background(), opts); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if p := <-pages; p.status != http.StatusOK {
		t.Errorf("browser page %d %q %v", p.status, p.body, p.err)
	}
}

func waitForURL(t *testing.T, out *syncbuf.Buffer) string {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "http") {
				return sc.Text()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("no URL printed")
	return "http://127.0.0.1:1/"
}

func TestLoginWrongStateRefused(t *testing.T) {
	tca := newTestCA(t, testCAOptions{idp: newFakeIdP(t)})
	urls := make(chan string, 1)
	opts := baseOptions(t, tca, io.Discard)
	opts.OpenBrowser = func(u string) error { urls <- u; return nil }

	pages := make(chan page, 1)
	go func() {
		redirect := mustQuery(t, <-urls).Get("redirect_uri")
		pages <- get(redirect + "?code=stolen&state=forged")
	}()
	_, err := Login(context.Background(), opts)
	if !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("Login error = %v, want ErrStateMismatch", err)
	}
	if p := <-pages; p.status != http.StatusBadRequest || !strings.Contains(p.body, "wrong state") {
		t.Errorf("forged callback got %d %q", p.status, p.body)
	}
	if tca.requestCount() != 0 {
		t.Error("a certificate was requested after a forged callback")
	}
}

func TestLoginIdPRefuses(t *testing.T) {
	idp := newFakeIdP(t)
	idp.authError = "access_denied"
	tca := newTestCA(t, testCAOptions{idp: idp})
	browser := newTestBrowser()
	opts := baseOptions(t, tca, io.Discard)
	opts.OpenBrowser = browser.open

	_, err := Login(context.Background(), opts)
	var ae *AuthorizationError
	if !errors.As(err, &ae) || ae.Code != "access_denied" {
		t.Fatalf("Login error = %v, want access_denied", err)
	}
	if p := browser.page(t); p.status != http.StatusBadRequest || !strings.Contains(p.body, "access_denied") {
		t.Errorf("browser page %d %q", p.status, p.body)
	}
}

func TestLoginDevice(t *testing.T) {
	idp := newFakeIdP(t)
	tca := newTestCA(t, testCAOptions{idp: idp})
	out := &syncbuf.Buffer{}
	opts := baseOptions(t, tca, out)
	opts.Device = true
	opts.OpenBrowser = func(string) error { t.Error("the device flow opened a browser"); return nil }

	res, err := Login(context.Background(), opts)
	if err != nil {
		t.Fatalf("Login: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Visit: " + idp.issuer() + "/device",
		"Code: " + testUserCode,
		"Or open: " + idp.issuer() + "/device?user_code=" + testUserCode,
	} {
		if !hasLine(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if polls := idp.snapshot().polls; polls != 2 {
		t.Errorf("token endpoint polled %d times, want 2 (pending, then the token)", polls)
	}
	if res.KeyID != "alice@example.com" {
		t.Errorf("KeyID %q", res.KeyID)
	}
}

func TestLoginDeviceUnsupported(t *testing.T) {
	idp := newFakeIdP(t)
	idp.noDevice = true
	opts := baseOptions(t, newTestCA(t, testCAOptions{idp: idp}), io.Discard)
	opts.Device = true
	_, err := Login(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "device authorization grant") {
		t.Fatalf("Login error = %v", err)
	}
}

func TestLoginDevToken(t *testing.T) {
	tca := newTestCA(t, testCAOptions{devMode: true})
	token := tca.devToken()
	opts := baseOptions(t, tca, io.Discard)
	opts.DevToken = token
	opts.TTL = 30 * time.Minute
	opts.Grants = []string{"orders:readonly", "orders:admin"}

	res, err := Login(context.Background(), opts)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	req := tca.lastRequest()
	if req.auth != "Bearer "+token || req.body.TTL != "30m0s" || !equal(req.body.Grants, opts.Grants) {
		t.Errorf("CA got %+v", req)
	}
	if !strings.HasPrefix(req.body.PublicKey, "ssh-ed25519 ") {
		t.Errorf("public key %q", req.body.PublicKey)
	}
	if left := time.Until(res.ValidBefore); left < 29*time.Minute || left > 30*time.Minute {
		t.Errorf("certificate valid for %v, want 30m", left)
	}
	if !equal(res.Principals, []string{"orders:admin", "orders:readonly"}) || res.KeyID != devIdentity.Email {
		t.Errorf("certificate %s for %q, want %q", res.KeyID, res.Principals, opts.Grants)
	}
	checkProfileFiles(t, res, tca)
}

func TestLoginRefusesWithoutTokenSource(t *testing.T) {
	for _, tc := range []struct {
		name, devToken string
		devMode        bool
		want           string
	}{
		{"no IdP", "", false, "no identity provider"},
		{"no IdP, dev mode", "", true, "--dev TOKEN"},
		{"dev token, not dev mode", "ghdev_x", false, "not running in dev mode"},
		{"mistyped dev token", "hdev_x", true, "not a dev login token (they start with ghdev_)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tca := newTestCA(t, testCAOptions{devMode: tc.devMode})
			opts := baseOptions(t, tca, io.Discard)
			opts.DevToken = tc.devToken
			_, err := Login(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Login error = %v, want %q", err, tc.want)
			}
			if n := tca.requestCount(); n != 0 {
				t.Errorf("the CA got %d certificate requests, want none", n)
			}
		})
	}
}

// TestLoginServerErrors: the real CA's refusals reach the user as
// ServerErrors with the CA's code and message, and nothing is written.
func TestLoginServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(o *Options)
		status int
		code   string
		want   string // what the message says
	}{
		{"grant not entitled", func(o *Options) { o.Grants = []string{"rawpg:direct"} },
			http.StatusForbidden, caapi.CodeGrantNotAllowed, "rawpg:direct"},
		{"ttl over the cap", func(o *Options) { o.TTL = 2 * time.Hour },
			http.StatusBadRequest, caapi.CodeTTLExceeded, "1h"},
		{"wrong token", func(o *Options) { o.DevToken = "ghdev_not-the-current-one" },
			http.StatusUnauthorized, caapi.CodeInvalidToken, "each works once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tca := newTestCA(t, testCAOptions{devMode: true})
			opts := baseOptions(t, tca, io.Discard)
			opts.DevToken = tca.devToken()
			tc.change(&opts)
			_, err := Login(context.Background(), opts)
			var se *ServerError
			if !errors.As(err, &se) || se.Code != tc.code || se.StatusCode != tc.status {
				t.Fatalf("Login error = %#v, want %d %s", err, tc.status, tc.code)
			}
			prefix := "gatehouse CA refused the certificate: " + tc.code + ": "
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) || msg != prefix+se.Message {
				t.Errorf("error %q, want %q… saying %q", err, prefix, tc.want)
			}
			if got := tca.rec.recorded(); !slices.Equal(got, []event.Type{event.TypeCertRefused}) {
				t.Errorf("the CA recorded %q, want one refusal", got)
			}
			if _, statErr := os.Stat(filepath.Join(opts.Home, ".gatehouse")); statErr == nil {
				t.Error("a refused login wrote files")
			}
		})
	}
}

// TestLoginRateLimited: past the CA's limit of failed requests per source,
// Login is refused with rate_limited before the CA looks at the token.
func TestLoginRateLimited(t *testing.T) {
	tca := newTestCA(t, testCAOptions{devMode: true, limiter: sourcelimit.New(2, 10, time.Now)})
	opts := baseOptions(t, tca, io.Discard)
	var codes []string
	for range 4 {
		opts.DevToken = "ghdev_wrong"
		_, err := Login(context.Background(), opts)
		var se *ServerError
		if !errors.As(err, &se) {
			t.Fatalf("Login error = %v, want a refusal", err)
		}
		codes = append(codes, se.Code)
	}
	if want := []string{caapi.CodeInvalidToken, caapi.CodeInvalidToken, caapi.CodeRateLimited, caapi.CodeRateLimited}; !equal(codes, want) {
		t.Errorf("refusals %q, want %q", codes, want)
	}
	opts.DevToken = tca.devToken()
	var se *ServerError
	if _, err := Login(context.Background(), opts); !errors.As(err, &se) || se.Code != caapi.CodeRateLimited || se.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a good token from a throttled source: %v, want rate_limited", err)
	}
}

func TestLoginNotTheCA(t *testing.T) {
	srv := http.NewServeMux()
	srv.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	})
	ts := newHTTPServer(t, srv)
	_, err := Login(context.Background(), Options{Server: ts, Home: t.TempDir(), DevToken: "ghdev_x"})
	var se *ServerError
	if !errors.As(err, &se) || se.Code != "http_502" || !strings.Contains(se.Message, "bad gateway") {
		t.Fatalf("Login error = %v", err)
	}
}

func TestLoginUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "http://" + ln.Addr().String()
	ln.Close()
	_, err = Login(context.Background(), Options{Server: server, Home: t.TempDir(), DevToken: "ghdev_x"})
	if err == nil || !strings.Contains(err.Error(), server) || !strings.Contains(err.Error(), "--server") {
		t.Fatalf("Login error = %v, want one naming %s and --server", err, server)
	}
}

func TestLoginCanceled(t *testing.T) {
	tca := newTestCA(t, testCAOptions{idp: newFakeIdP(t)})
	ctx, cancel := context.WithCancel(context.Background())
	opts := baseOptions(t, tca, io.Discard)
	opts.OpenBrowser = func(string) error { cancel(); return nil } // the user walks away
	start := time.Now()
	_, err := Login(ctx, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Login error = %v, want context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancellation took %v", time.Since(start))
	}
}

func TestLoginTimeout(t *testing.T) {
	tca := newTestCA(t, testCAOptions{idp: newFakeIdP(t)})
	opts := baseOptions(t, tca, io.Discard)
	opts.NoBrowser = true
	opts.LoginTimeout = 300 * time.Millisecond
	_, err := Login(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "gave up after 300ms") {
		t.Fatalf("Login error = %v", err)
	}
}

func TestLoginServerFromProfile(t *testing.T) {
	tca := newTestCA(t, testCAOptions{devMode: true})
	opts := baseOptions(t, tca, io.Discard)
	opts.DevToken = tca.devToken()
	opts.Server = tca.srv.URL + "/"
	if _, err := Login(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	opts.Server = ""
	opts.DevToken = tca.devToken() // each works once
	if _, err := Login(context.Background(), opts); err != nil {
		t.Fatalf("second Login without Server: %v", err)
	}
	if _, err := Login(context.Background(), Options{Home: t.TempDir(), DevToken: "ghdev_x"}); err == nil ||
		!strings.Contains(err.Error(), "--server") {
		t.Fatalf("Login of a new profile without a server: %v", err)
	}
}

func TestNormalizeServer(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"http://127.0.0.1:8443/", "http://127.0.0.1:8443", ""},
		{"http://localhost:8443", "http://localhost:8443", ""},
		{"http://[::1]:8443", "http://[::1]:8443", ""},
		{"https://ca.example.com/base/", "https://ca.example.com/base", ""},
		{"http://ca.example.com:8443", "", "plain http"},
		{"127.0.0.1:8443", "", "want a URL"},
		{"ftp://127.0.0.1", "", "want a URL"},
		{"https://ca.example.com/?x=1", "", "without query"},
	} {
		got, err := normalizeServer(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("normalizeServer(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestProfileNameChecked(t *testing.T) {
	for _, p := range []string{"../x", "a/b", ".hidden", "with space"} {
		if _, err := Login(context.Background(), Options{Server: "http://127.0.0.1:1", Profile: p, Home: t.TempDir()}); err == nil ||
			!strings.Contains(err.Error(), "profile") {
			t.Errorf("profile %q: %v", p, err)
		}
	}
}

// checkProfileFiles checks everything Login wrote, and its permissions.
func checkProfileFiles(t *testing.T, res *Result, tca *testCA) {
	t.Helper()
	if fi, err := os.Stat(res.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("profile dir %s: %v, %v", res.Dir, fi.Mode(), err)
	}
	for _, f := range []string{res.KeyFile, res.PublicKeyFile, res.CertificateFile, res.KnownHostsFile, res.ProfileFile} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", f, fi.Mode(), err)
		}
	}
	entries, _ := os.ReadDir(res.Dir)
	if len(entries) != 5 {
		t.Errorf("profile dir holds %d entries, want 5 (no temporary files left)", len(entries))
	}
	signer, err := ssh.ParsePrivateKey(readFile(t, res.KeyFile))
	if err != nil {
		t.Fatalf("private key: %v", err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(readFile(t, res.PublicKeyFile))
	if err != nil || !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
		t.Errorf("public key file does not match the private key: %v", err)
	}
	cert, err := parseCertificate(readFile(t, res.CertificateFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.Key.Marshal(), signer.PublicKey().Marshal()) ||
		!bytes.Equal(cert.SignatureKey.Marshal(), tca.authority.UserSigner.PublicKey().Marshal()) {
		t.Error("certificate is not for the key, or not from the CA")
	}
	checker := ssh.CertChecker{IsUserAuthority: func(k ssh.PublicKey) bool {
		return bytes.Equal(k.Marshal(), tca.authority.UserSigner.PublicKey().Marshal())
	}}
	if err := checker.CheckCert(res.Principals[0], cert); err != nil {
		t.Errorf("certificate does not check: %v", err)
	}
	if got := string(readFile(t, res.KnownHostsFile)); got != tca.knownHostsLine()+"\n" {
		t.Errorf("known_hosts = %q", got)
	}
	var prof profileInfo
	if err := json.Unmarshal(readFile(t, res.ProfileFile), &prof); err != nil {
		t.Fatal(err)
	}
	if prof != (profileInfo{Server: tca.srv.URL, SSHAddress: "127.0.0.1:2222", SSHHostAlias: "gatehouse"}) {
		t.Errorf("profile.json = %+v", prof)
	}
	st, err := ReadStatus(filepath.Dir(filepath.Dir(res.Dir)), filepath.Base(res.Dir), time.Now())
	if err != nil || st.Serial != res.Serial || st.Identity.Serial != res.Serial {
		t.Errorf("ReadStatus after Login: %+v, %v", st, err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimRight(l, "\n") == line {
			return true
		}
	}
	return false
}

func mustQuery(t *testing.T, u string) url.Values {
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Query()
}

func equal(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

func newHTTPServer(t *testing.T, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
