// Package vault is gatehouse's client of HashiCorp Vault: it signs SSH
// certificates through the SSH secrets engine (sign.go) and leases
// database credentials from the database secrets engine (leases.go), with
// a token from the environment, a file or an AppRole login that it keeps
// renewed (token.go). Vault's refusals become errors that say what to
// change in Vault (errors.go).
package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/hashicorp/vault/api"
)

// Config is how to reach Vault and log in. Exactly one of Token, TokenFile
// and AppRole is used, in that order.
type Config struct {
	Address string
	// Token is a token read by the caller (e.g. from token_env).
	Token string
	// TokenFile is read at login and again at every re-login, so a token
	// rotated by Vault Agent is picked up.
	TokenFile string
	AppRole   *AppRole
	CAFile    string // verifies Vault's TLS certificate; "": system roots
	// TLSServerName overrides the name checked in Vault's certificate.
	TLSServerName string
	// Timeout bounds each request; 0: 30s.
	Timeout time.Duration
	// Logger receives renewal problems; nil: slog.Default().
	Logger *slog.Logger
}

// AppRole is an AppRole login (auth/MOUNT/login). The IDs are read at each
// login, so files rotated underneath are picked up.
type AppRole struct {
	Mount    string // default approle
	RoleID   func() (string, error)
	SecretID func() (string, error)
}

// Client is a logged-in Vault client. Its methods are safe for concurrent
// use.
type Client struct {
	api *api.Client
	cfg Config
	log *slog.Logger
}

// New connects to Vault and logs in. It does not start token renewal:
// KeepTokenAlive does.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, errors.New("vault: no address")
	}
	if _, err := url.Parse(cfg.Address); err != nil {
		return nil, fmt.Errorf("vault: address %q: %w", cfg.Address, err)
	}
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("vault: client config: %w", ac.Error)
	}
	ac.Address = cfg.Address
	ac.Timeout = cfg.Timeout
	if ac.Timeout == 0 {
		ac.Timeout = 30 * time.Second
	}
	// One retry: a session waiting for credentials should hear quickly
	// that Vault is down rather than after minutes of backoff.
	ac.MaxRetries = 1
	if cfg.CAFile != "" || cfg.TLSServerName != "" {
		if err := ac.ConfigureTLS(&api.TLSConfig{CACert: cfg.CAFile, TLSServerName: cfg.TLSServerName}); err != nil {
			return nil, fmt.Errorf("vault: TLS with ca_file %s: %w", cfg.CAFile, err)
		}
	}
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault: client for %s: %w", cfg.Address, err)
	}
	// NewClient takes VAULT_TOKEN and VAULT_NAMESPACE from the
	// environment; gatehouse's token comes only from its configuration.
	c.ClearToken()
	c.ClearNamespace()
	cl := &Client{api: c, cfg: cfg, log: cfg.Logger}
	if cl.log == nil {
		cl.log = slog.Default()
	}
	if err := cl.login(ctx); err != nil {
		return nil, err
	}
	return cl, nil
}

// Address is the Vault server's address, for messages.
func (c *Client) Address() string { return c.cfg.Address }
