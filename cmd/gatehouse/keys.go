package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/internal/vault"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	gossh "golang.org/x/crypto/ssh"
)

type serverKeys struct {
	userCA, hostCA ca.CertSigner
	host           gossh.Signer
	vault          *vault.Client // ca.signer.vault's, whose token serve keeps renewed; nil for key files
}

// loadKeys opens the CA signers — the key files made by `gatehouse ca
// init`, or Vault's SSH secrets engine — and the host key (generated on
// first start, as DESIGN.md says).
func loadKeys(ctx context.Context, cfg *policy.Config, log *slog.Logger) (serverKeys, error) {
	var k serverKeys
	var err error
	if v := cfg.CA.Signer.Vault; v != nil {
		if k.userCA, k.hostCA, k.vault, err = vaultSigners(ctx, v, log); err != nil {
			return k, err
		}
	} else if k.userCA, k.hostCA, err = fileSigners(cfg); err != nil {
		return k, err
	}
	if k.host, err = loadOrGenerate(cfg.Path(cfg.SSH.HostKey)); err != nil {
		return k, fmt.Errorf("host key: %w", err)
	}
	return k, nil
}

func fileSigners(cfg *policy.Config) (user, host ca.CertSigner, err error) {
	u, err := ca.LoadKeyFile(cfg.Path(cfg.CA.Signer.File))
	if err != nil {
		return nil, nil, err
	}
	h, err := ca.LoadKeyFile(cfg.Path(cfg.CA.Signer.HostFile))
	if err != nil {
		return nil, nil, err
	}
	return ca.KeySigner{Signer: u}, ca.KeySigner{Signer: h}, nil
}

func loadOrGenerate(path string) (gossh.Signer, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return ca.GenerateKeyFile(path)
	}
	return ca.LoadKeyFile(path)
}

// initCAKeys creates whichever CA keys (and the recorder and console
// keys) are missing and reports what it did.
func initCAKeys(cfg *policy.Config) ([]string, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data_dir: %w", err)
	}
	var made []string
	caFiles := []string{cfg.Path(cfg.CA.Signer.File), cfg.Path(cfg.CA.Signer.HostFile)}
	if cfg.CA.Signer.Vault != nil {
		caFiles = nil // the CA keys live in Vault
	}
	for _, path := range caFiles {
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if _, err := ca.GenerateKeyFile(path); err != nil {
			return made, err
		}
		made = append(made, path)
	}
	for _, path := range []string{recorderKeyPath(cfg), consoleKeyPath(cfg)} {
		if _, created, err := recorder.LoadOrGenerateKey(path); err != nil {
			return made, fmt.Errorf("signing key %s: %w", path, err)
		} else if created {
			made = append(made, path)
		}
	}
	return made, nil
}
