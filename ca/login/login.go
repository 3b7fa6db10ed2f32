// Package login is the client half of `gatehouse login`, `gatehouse status`
// and `gatehouse ssh-config`.
//
// Login obtains an identity token (OpenID Connect authorization code with
// PKCE on a loopback redirect, the OAuth 2.0 device authorization grant, or a
// dev token), asks the gatehouse CA to certify a fresh Ed25519 key, keeps the
// key, the certificate and the host CA under HOME/.gatehouse/PROFILE/ and
// optionally loads the key and certificate into ssh-agent.
package login

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"golang.org/x/crypto/ssh"
)

// DefaultProfile is the profile used when Options.Profile is empty.
const DefaultProfile = "default"

// DefaultLoginTimeout is how long the user has to finish logging in at the
// identity provider when Options.LoginTimeout is zero.
const DefaultLoginTimeout = 5 * time.Minute

// Options configure Login. The zero value of each field is documented.
type Options struct {
	// Server is the CA API base URL, e.g. http://127.0.0.1:8443. Empty means
	// the server recorded in the profile by an earlier login. Plain http is
	// accepted only for loopback hosts: the request carries an ID token.
	Server string
	// Profile names the directory HOME/.gatehouse/PROFILE/; "" means "default".
	Profile string
	// Home is the base directory; "" means os.UserHomeDir().
	Home string
	// TTL is the certificate lifetime asked for; 0 leaves it to the server's cap.
	TTL time.Duration
	// Grants are the principals (TARGET:ROLE) asked for; nil asks for
	// everything the policy allows the identity.
	Grants []string
	// Device uses the device authorization grant (RFC 8628) instead of a browser.
	Device bool
	// DevToken is the one-time token of `gatehouse dev` (`gatehouse login --dev TOKEN`).
	DevToken string
	// NoBrowser only prints the login URL instead of also opening a browser.
	NoBrowser bool
	// Out receives the text meant for the user (URL, user code, result);
	// nil discards it.
	Out io.Writer
	// HTTPClient talks to the CA and the identity provider; nil means a
	// client with a 30 second timeout per request.
	HTTPClient *http.Client
	// AgentSocket is SSH_AUTH_SOCK; "" leaves ssh-agent alone.
	AgentSocket string
	// OpenBrowser opens the login URL; nil means xdg-open (or open on macOS)
	// when present on PATH and a display is available, else only printing.
	OpenBrowser func(url string) error
	// LoginTimeout bounds the time spent at the identity provider; 0 means
	// DefaultLoginTimeout.
	LoginTimeout time.Duration
	// Now is the clock for certificate lifetimes; nil means time.Now.
	Now func() time.Time
}

// Result describes a completed login.
type Result struct {
	Dir             string // HOME/.gatehouse/PROFILE
	KeyFile         string // id_ed25519, the OpenSSH private key
	PublicKeyFile   string // id_ed25519.pub
	CertificateFile string // id_ed25519-cert.pub
	KnownHostsFile  string // known_hosts, the @cert-authority line of the host CA
	ProfileFile     string // profile.json
	SSHHostAlias    string // the Host name written by SSHConfig

	KeyID       string
	Principals  []string
	ValidAfter  time.Time
	ValidBefore time.Time
	Serial      uint64
	// AddedToAgent reports whether the key and certificate went into ssh-agent.
	AddedToAgent bool
}

// Login runs the whole login: ask the CA how to authenticate, get a token,
// certify a fresh key, write the profile and load ssh-agent.
func Login(ctx context.Context, opts Options) (*Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	api := &caClient{base: o.Server, http: o.HTTPClient}
	info, err := api.info(ctx)
	if err != nil {
		return nil, err
	}
	token, err := o.identityToken(ctx, info)
	if err != nil {
		return nil, err
	}
	key, cert, err := o.certify(ctx, api, token)
	if err != nil {
		return nil, err
	}
	res, err := o.save(info, key, cert)
	if err != nil {
		return nil, err
	}
	o.loadAgent(res, key, cert)
	o.report(res, cert)
	return res, nil
}

// certify makes a fresh key and has the CA sign it.
func (o *Options) certify(ctx context.Context, api *caClient, token string) (ed25519.PrivateKey, *ssh.Certificate, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("login: generate key: %w", err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("login: generate key: %w", err)
	}
	req := caapi.CertificateRequest{PublicKey: authorizedKeyLine(pub, keyComment(o.Profile)), Grants: o.Grants}
	if o.TTL > 0 {
		req.TTL = o.TTL.String()
	}
	cert, err := api.certify(ctx, token, req)
	if err != nil {
		return nil, nil, err
	}
	if err := checkIssued(cert, pub); err != nil {
		return nil, nil, fmt.Errorf("gatehouse CA at %s: %w", o.Server, err)
	}
	return priv, cert, nil
}

// checkIssued rejects a certificate that cannot be the answer to our request.
func checkIssued(cert *ssh.Certificate, pub ssh.PublicKey) error {
	if cert.CertType != ssh.UserCert {
		return errors.New("issued a host certificate instead of a user certificate")
	}
	if string(cert.Key.Marshal()) != string(pub.Marshal()) {
		return errors.New("issued a certificate for a different public key")
	}
	return nil
}

// loadAgent adds the key to ssh-agent when asked; failure only warns, since
// the files already hold everything ssh needs.
func (o *Options) loadAgent(res *Result, key ed25519.PrivateKey, cert *ssh.Certificate) {
	if o.AgentSocket == "" {
		return
	}
	if err := addToAgent(o.AgentSocket, key, cert, o.Now()); err != nil {
		fmt.Fprintf(o.Out, "warning: could not add the certificate to ssh-agent: %v\n", err)
		return
	}
	res.AddedToAgent = true
}

// report tells the user what they got.
func (o *Options) report(res *Result, cert *ssh.Certificate) {
	st, _ := statusFromCert(cert, o.Server, o.Now()) // a bad identity extension only hides the subject line
	fmt.Fprintf(o.Out, "Logged in to gatehouse.\n%s", st)
	field(o.Out, "key", res.KeyFile)
	if res.AddedToAgent {
		field(o.Out, "agent", "key and certificate added to ssh-agent until the certificate expires")
	}
	field(o.Out, "ssh host", res.SSHHostAlias+" (print its ssh_config block with `gatehouse ssh-config`)")
}

var profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// withDefaults returns a copy of o with every zero field resolved.
func (o Options) withDefaults() (*Options, error) {
	var err error
	if o.Profile, err = resolveProfile(o.Profile); err != nil {
		return nil, err
	}
	if o.Home, err = resolveHome(o.Home); err != nil {
		return nil, err
	}
	if o.Server == "" {
		o.Server = serverFromProfile(filepath.Join(o.Home, ".gatehouse", o.Profile))
		if o.Server == "" {
			return nil, fmt.Errorf("login: no server: pass --server URL (profile %q has none recorded)", o.Profile)
		}
	}
	if o.Server, err = normalizeServer(o.Server); err != nil {
		return nil, err
	}
	if o.TTL < 0 {
		return nil, fmt.Errorf("login: negative TTL %v", o.TTL)
	}
	o.fillHooks()
	return &o, nil
}

// fillHooks sets the defaults that cannot fail.
func (o *Options) fillHooks() {
	defaultClientIO(&o.Out, &o.HTTPClient, &o.Now)
	if o.OpenBrowser == nil {
		o.OpenBrowser = openBrowser
	}
	if o.LoginTimeout <= 0 {
		o.LoginTimeout = DefaultLoginTimeout
	}
}

// defaultClientIO fills in what every command's options may leave unset:
// output discarded, an HTTP client with a 30-second timeout, the real
// clock.
func defaultClientIO(out *io.Writer, client **http.Client, now *func() time.Time) {
	if *out == nil {
		*out = io.Discard
	}
	if *client == nil {
		*client = &http.Client{Timeout: 30 * time.Second}
	}
	if *now == nil {
		*now = time.Now
	}
}

// resolveProfile defaults and checks a profile name, which becomes a
// directory name.
func resolveProfile(profile string) (string, error) {
	if profile == "" {
		return DefaultProfile, nil
	}
	if !profileName.MatchString(profile) {
		return "", fmt.Errorf("login: profile %q: use letters, digits, '.', '_' and '-'", profile)
	}
	return profile, nil
}

// resolveHome makes home absolute, defaulting to the user's home directory.
func resolveHome(home string) (string, error) {
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("login: find home directory: %w", err)
		}
		home = h
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return "", fmt.Errorf("login: home %q: %w", home, err)
	}
	return abs, nil
}
