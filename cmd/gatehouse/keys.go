package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	gossh "golang.org/x/crypto/ssh"
)

type serverKeys struct {
	userCA, hostCA, host gossh.Signer
}

// loadKeys reads the CA keys (made by `gatehouse ca init`) and the host key
// (generated on first start, as DESIGN.md says).
func loadKeys(cfg *policy.Config) (serverKeys, error) {
	var k serverKeys
	var err error
	if k.userCA, err = ca.LoadKeyFile(cfg.Path(cfg.CA.Signer.File)); err != nil {
		return k, err
	}
	if k.hostCA, err = ca.LoadKeyFile(cfg.Path(cfg.CA.Signer.HostFile)); err != nil {
		return k, err
	}
	if k.host, err = loadOrGenerate(cfg.Path(cfg.SSH.HostKey)); err != nil {
		return k, fmt.Errorf("host key: %w", err)
	}
	return k, nil
}

func loadOrGenerate(path string) (gossh.Signer, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return ca.GenerateKeyFile(path)
	}
	return ca.LoadKeyFile(path)
}

// initCAKeys creates whichever CA keys (and the recorder key) are missing
// and reports what it did.
func initCAKeys(cfg *policy.Config) ([]string, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data_dir: %w", err)
	}
	var made []string
	for _, path := range []string{cfg.Path(cfg.CA.Signer.File), cfg.Path(cfg.CA.Signer.HostFile)} {
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if _, err := ca.GenerateKeyFile(path); err != nil {
			return made, err
		}
		made = append(made, path)
	}
	if _, created, err := recorder.LoadOrGenerateKey(recorderKeyPath(cfg)); err != nil {
		return made, fmt.Errorf("recorder key: %w", err)
	} else if created {
		made = append(made, recorderKeyPath(cfg))
	}
	return made, nil
}
