package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// consoleKeyPath is console.signing_key in data_dir.
func consoleKeyPath(cfg *policy.Config) string { return cfg.Path(cfg.Console.SigningKey) }

// consoleKey is the console's own signing key, made on first use. It
// signs console streams only, so a console (a web server reading what
// clients wrote) that is broken into cannot sign a session or the CA's
// record: it must never be the recorder key.
func consoleKey(cfg *policy.Config) (ed25519.PrivateKey, error) {
	path := consoleKeyPath(cfg)
	if filepath.Clean(path) == filepath.Clean(recorderKeyPath(cfg)) {
		return nil, fmt.Errorf("console.signing_key: %s is the recorder key; the console signs with a key of its own", path)
	}
	key, _, err := recorder.LoadOrGenerateKey(path)
	if err != nil {
		return nil, fmt.Errorf("console.signing_key: %w", err)
	}
	return key, nil
}

// openConsoleRecorder is the recorder of the console's activity (and of
// `console link`): console streams signed with the console key, in the
// spool.
func openConsoleRecorder(cfg *policy.Config) (*recorder.Recorder, error) {
	key, err := consoleKey(cfg)
	if err != nil {
		return nil, err
	}
	return recorderWith(cfg, key), nil
}

// localConsoleKey is the public half of the console key in cfg's
// data_dir, or nil when there is none there (the console runs elsewhere,
// or has never run).
func localConsoleKey(cfg *policy.Config) (ed25519.PublicKey, error) {
	key, err := recorder.LoadKey(consoleKeyPath(cfg))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console.signing_key: %w", err)
	}
	return key.Public().(ed25519.PublicKey), nil
}

// consoleKeys are the keys console streams are trusted from: the values
// of --console-pubkey, else the console key in data_dir of --config.
// Console streams are trusted from the recorder keys too (the console
// signed with the recorder key before it had its own), but a console key
// is never trusted for another kind.
func consoleKeys(cfg *policy.Config, values []string) ([]ed25519.PublicKey, error) {
	if len(values) > 0 || cfg == nil {
		keys, err := parseKeyValues("--console-pubkey", values, recorder.ParseConsolePublicKeys)
		return keys, err
	}
	pub, err := localConsoleKey(cfg)
	if pub == nil || err != nil {
		return nil, err
	}
	return []ed25519.PublicKey{pub}, nil
}
