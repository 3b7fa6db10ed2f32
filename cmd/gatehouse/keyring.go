package main

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// maxTrustedKeyFile bounds a trusted_keys file: a few keys, or the JSON
// of GET /v1/recorder-keys, are a few KiB.
const maxTrustedKeyFile = 1 << 20

// trustedKeys reads recording.trusted_keys: each entry's keys, retired,
// held to its not_after. An entry that cannot be read or parsed fails,
// naming it: a verifier that dropped the key would fail the sessions it
// signed, and one that guessed could trust what it must not.
func trustedKeys(cfg *policy.Config) ([]recorder.TrustedKey, error) {
	var out []recorder.TrustedKey
	for i, entry := range cfg.Recording.TrustedKeys {
		name := fmt.Sprintf("recording.trusted_keys[%d]", i)
		keys, err := readTrustedKey(cfg, entry, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, k := range keys {
			k.Retired, k.Name = true, name
			if entry.NotAfter != nil {
				k.NotAfter = *entry.NotAfter
			}
			out = append(out, k)
		}
	}
	return out, nil
}

func readTrustedKey(cfg *policy.Config, entry policy.TrustedKey, name string) ([]recorder.TrustedKey, error) {
	data := []byte(entry.Key)
	if !entry.IsInline() {
		var err error
		if data, err = readSmallFile(cfg.Path(entry.Key), maxTrustedKeyFile); err != nil {
			return nil, err
		}
	}
	return recorder.ParseTrustedKeys(data, name)
}

// readSmallFile reads a file of at most limit bytes, refusing a larger one.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return data, nil
}

// recorderKeyring is what verifies cfg's recordings: current, the
// recorder key in use, and the keys of recording.trusted_keys.
func recorderKeyring(cfg *policy.Config, current ...ed25519.PublicKey) (*recorder.Keyring, error) {
	var keys []recorder.TrustedKey
	for _, k := range current {
		keys = append(keys, recorder.TrustedKey{Key: k, Name: "the recorder key in data_dir"})
	}
	retired, err := trustedKeys(cfg)
	if err != nil {
		return nil, err
	}
	return recorder.NewKeyring(append(keys, retired...)...)
}

// localRecorderKeyring is recorderKeyring with the recorder key in
// data_dir as the current key.
func localRecorderKeyring(cfg *policy.Config) (*recorder.Keyring, error) {
	key, err := recorder.LoadKey(recorderKeyPath(cfg))
	if err != nil {
		return nil, fmt.Errorf("the recorder key: %w", err)
	}
	return recorderKeyring(cfg, key.Public().(ed25519.PublicKey))
}

// checkTrustedKeys refuses what recorderKeyring would: an entry of
// trusted_keys that cannot be read, or that contradicts another. A
// command that verifies or publishes keys calls it before starting
// anything.
func checkTrustedKeys(cfg *policy.Config) error {
	_, err := recorderKeyring(cfg)
	return err
}
