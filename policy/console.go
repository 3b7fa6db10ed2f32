package policy

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// ConsoleConfig configures `gatehouse console`, the auditor's read-only
// web console (docs/console.md). Auditors log in at identity.oidc's
// issuer with the authorization code flow and PKCE.
type ConsoleConfig struct {
	Listen  string `yaml:"listen"` // default 127.0.0.1:8444; plain HTTP only on loopback
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// PublicURL is the base URL browsers use; the login's redirect URL is
	// PublicURL/callback and must be registered at the IdP. Default
	// http://LISTEN (https:// with TLS).
	PublicURL string `yaml:"public_url"`
	// OIDCClientID is the console's client at the IdP; default
	// identity.oidc.client_id. The ID token's audience must name it.
	OIDCClientID string `yaml:"oidc_client_id"`
	// OIDCClientSecretEnv names the environment variable holding the
	// client's secret, for a confidential client; empty: a public client
	// (PKCE alone).
	OIDCClientSecretEnv string `yaml:"oidc_client_secret_env"`
	// AuditorGroups: an ID token's groups claim must name one of them.
	// Default [auditors].
	AuditorGroups []string `yaml:"auditor_groups"`
	// SessionTTL is how long a console login lasts; default 8h, at most
	// MaxConsoleSessionTTL.
	SessionTTL Duration `yaml:"session_ttl"`
	// SigningKey is the console's own Ed25519 key (relative to data_dir),
	// which signs its activity streams and nothing else; made on first
	// use. Default DefaultConsoleSigningKey. The console never holds the
	// recorder key, which signs sessions and the CA's record.
	SigningKey string `yaml:"signing_key"`
	// IndexDir is where the console keeps its index of the recordings
	// (derived data, rebuilt from the store at will), relative to
	// data_dir; default console-index.
	IndexDir string `yaml:"index_dir"`
	// IndexInterval is how often the index reads what the store added or
	// changed; default 5s.
	IndexInterval Duration `yaml:"index_interval"`
	// IndexMaxAge is how old the index may be when a list is asked for;
	// default 0: every list first brings it up to date (one listing of
	// the store).
	IndexMaxAge Duration `yaml:"index_max_age"`
}

// Defaults and bounds of the console section.
const (
	DefaultConsoleListen     = "127.0.0.1:8444"
	DefaultConsoleSessionTTL = 8 * time.Hour
	MaxConsoleSessionTTL     = 24 * time.Hour
	DefaultConsoleSigningKey = "console_ed25519"
	DefaultConsoleIndexDir   = "console-index"
	DefaultConsoleIndexEvery = 5 * time.Second
)

func (c *ConsoleConfig) applyDefaults(oidc *OIDCConfig) {
	if c.Listen == "" {
		c.Listen = DefaultConsoleListen
	}
	if c.OIDCClientID == "" && oidc != nil {
		c.OIDCClientID = oidc.ClientID
	}
	if len(c.AuditorGroups) == 0 {
		c.AuditorGroups = []string{"auditors"}
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = Duration(DefaultConsoleSessionTTL)
	}
	if c.SigningKey == "" {
		c.SigningKey = DefaultConsoleSigningKey
	}
	if c.IndexDir == "" {
		c.IndexDir = DefaultConsoleIndexDir
	}
	if c.IndexInterval == 0 {
		c.IndexInterval = Duration(DefaultConsoleIndexEvery)
	}
}

// TLS says whether the console serves HTTPS.
func (c ConsoleConfig) TLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

func (c ConsoleConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("console.listen: %q is not host:port", c.Listen)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		add("console.tls_cert and console.tls_key: set both or neither")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add("console.public_url: %q is not an http(s) URL without query or fragment", c.PublicURL)
		}
	}
	for _, g := range c.AuditorGroups {
		if strings.TrimSpace(g) == "" {
			add("console.auditor_groups: an empty group name would match nothing; remove it")
		}
	}
	if d := c.SessionTTL.D(); d < time.Minute || d > MaxConsoleSessionTTL {
		add("console.session_ttl: %s is outside 1m to %s", d, MaxConsoleSessionTTL)
	}
	if d := c.IndexInterval.D(); d < time.Second {
		add("console.index_interval: %s is under 1s", d)
	}
	return errs
}
