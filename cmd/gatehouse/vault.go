package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/bastion/pgsession"
	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/internal/vault"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// vaultClient logs in to Vault as the configuration at `at` says.
func vaultClient(ctx context.Context, at string, c *policy.VaultConnection, log *slog.Logger) (*vault.Client, error) {
	cfg := vault.Config{Address: c.Address, TokenFile: c.TokenFile, CAFile: c.CAFile, TLSServerName: c.TLSServerName, Logger: log}
	if c.TokenEnv != "" {
		if cfg.Token = os.Getenv(c.TokenEnv); cfg.Token == "" {
			return nil, fmt.Errorf("%s.token_env: %s is not set; export gatehouse's Vault token in it", at, c.TokenEnv)
		}
	}
	if a := c.AppRole; a != nil {
		cfg.AppRole = &vault.AppRole{Mount: a.Mount,
			RoleID: secretFrom(at+".approle.role_id", a.RoleIDEnv, a.RoleIDFile), SecretID: secretFrom(at+".approle.secret_id", a.SecretIDEnv, a.SecretIDFile)}
	}
	cl, err := vault.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", at, err)
	}
	return cl, nil
}

// secretFrom reads a value from an environment variable or a file, each
// time it is asked, so a rotated file is picked up.
func secretFrom(at, env, file string) func() (string, error) {
	return func() (string, error) {
		if env != "" {
			if v := os.Getenv(env); v != "" {
				return v, nil
			}
			return "", fmt.Errorf("%s_env: %s is not set", at, env)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", at, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
}

// vaultSigners signs user and host certificates through ca.signer.vault.
func vaultSigners(ctx context.Context, v *policy.VaultSigner, log *slog.Logger) (user, host ca.CertSigner, cl *vault.Client, err error) {
	if cl, err = vaultClient(ctx, "ca.signer.vault", &v.VaultConnection, log); err != nil {
		return nil, nil, nil, err
	}
	u, err := vault.NewSSHSigner(ctx, cl, v.Mount, v.Role)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ca.signer.vault: %w", err)
	}
	h, err := vault.NewSSHSigner(ctx, cl, v.HostMount, v.HostRole)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ca.signer.vault (host): %w", err)
	}
	return u, h, cl, nil
}

// vaultCredentials leases credentials.vault paths, when any role has one.
// close revokes every lease still held and stops token renewal; it is
// safe to call when nothing was opened.
func vaultCredentials(ctx context.Context, cfg *policy.Config, log *slog.Logger) (src pgsession.CredentialSource, close func(), err error) {
	conn := cfg.VaultForCredentials()
	if conn == nil || !usesVaultCredentials(cfg) {
		return nil, func() {}, nil
	}
	at := "vault"
	if cfg.Vault == nil {
		at = "ca.signer.vault"
	}
	cl, err := vaultClient(ctx, at, conn, log)
	if err != nil {
		return nil, nil, err
	}
	stop := cl.KeepTokenAlive(context.WithoutCancel(ctx))
	leases := &vault.Leases{Client: cl}
	src = func(ctx context.Context, path string) (*pgsession.LeasedCredential, error) {
		l, err := leases.Acquire(ctx, path)
		if err != nil {
			return nil, err
		}
		return &pgsession.LeasedCredential{User: l.Username, Password: l.Password, LeaseID: l.ID, Release: l.Release}, nil
	}
	return src, func() { leases.Close(); stop() }, nil
}

func usesVaultCredentials(cfg *policy.Config) bool {
	for _, t := range cfg.Targets {
		for _, r := range t.Roles {
			if r != nil && r.Credentials.Vault != "" {
				return true
			}
		}
	}
	return false
}
