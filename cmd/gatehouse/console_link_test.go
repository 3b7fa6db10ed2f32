package main

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/console"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// linkConfig is a configuration with one target, orders, in a new
// data_dir.
func linkConfig(t *testing.T, extra string) (config, dir string) {
	t.Helper()
	dir = t.TempDir()
	config = filepath.Join(dir, "gatehouse.yaml")
	yaml := "data_dir: " + dir + "\ntargets:\n  orders:\n    protocol: tcp\n    address: 127.0.0.1:5432\n    roles:\n      readonly: {}\n" + extra
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return config, dir
}

// TestConsoleLinkMintsAndRecords: `console link` prints a URL whose
// token the console's link store exchanges once, for that scope, and
// records who minted it, for whom, and the scope, never the token.
func TestConsoleLinkMintsAndRecords(t *testing.T) {
	config, dir := linkConfig(t, "")
	out, code, err := runAudit(t, "console", "link", "--config", config, "--identity", "ext auditor", "--ttl", "2h",
		"--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T00:00:00Z", "--target", "orders")
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	m := regexp.MustCompile(`^http://127\.0\.0\.1:8444/link/([A-Za-z0-9_-]{43})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no link URL in:\n%s", out)
	}
	token := m[1]
	store := recorder.FileStore{Dir: filepath.Join(dir, "recordings")}
	ids, err := store.List(recorder.KindConsole)
	if err != nil || len(ids) != 1 {
		t.Fatalf("console streams: %v, %v", ids, err)
	}
	lines, _ := store.Lines(recorder.KindConsole, ids[0])
	var minted event.ConsoleLinkMinted
	for _, line := range lines {
		if strings.Contains(string(line), token) {
			t.Fatal("the token is in the record")
		}
		if ev, _ := recorder.Decode(line); ev.Type == event.TypeConsoleLinkMinted {
			if err := ev.DecodeData(&minted); err != nil {
				t.Fatal(err)
			}
		}
	}
	if minted.For != "ext auditor" || minted.Link != console.LinkRef(token) || minted.By != localUser() ||
		strings.Join(minted.Targets, ",") != "orders" || minted.From.Format("2006-01-02") != "2026-12-01" {
		t.Fatalf("console.link_minted: %+v", minted)
	}
	// Signed with the console's own key; the recorder key is neither
	// used nor made.
	consoleKey, err := recorder.LoadKey(filepath.Join(dir, policy.DefaultConsoleSigningKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recorder.VerifyStored(store, recorder.KindConsole, ids[0], consoleKey.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("the minting stream does not verify with the console key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, recorder.KeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("console link touched the recorder key: %v", err)
	}
	links := console.LinkStore{Dir: filepath.Join(dir, "console-links")}
	l, err := links.Exchange(token)
	if err != nil || l.Identity != "ext auditor" || len(l.Targets) != 1 {
		t.Fatalf("exchange: %+v, %v", l, err)
	}
	if _, err := links.Exchange(token); err == nil {
		t.Fatal("a second exchange worked")
	}
}

// TestConsoleLinkRefusals: bad flags mint nothing.
func TestConsoleLinkRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		extra string
		want  string
	}{
		{"no identity", nil, "", "--identity is required"},
		{"ttl too long", []string{"--identity", "x", "--ttl", "200h"}, "", "outside"},
		{"unknown target", []string{"--identity", "x", "--target", "billing"}, "", `"billing" is not a target`},
		{"empty period", []string{"--identity", "x", "--from", "2026-12-02T00:00:00Z", "--to", "2026-12-01T00:00:00Z"}, "", "before --to"},
		{"discarded recordings", []string{"--identity", "x"}, "recording: {store: discard}\n", "recording.store is discard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config, dir := linkConfig(t, tc.extra)
			t.Setenv(policy.DiscardRecordingsEnv, "1")
			out, code, err := runAudit(t, append([]string{"console", "link", "--config", config}, tc.args...)...)
			if code == 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d, %v (%s), want an error naming %q", code, err, out, tc.want)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "console-links")); len(entries) != 0 {
				t.Fatalf("a link was stored: %v", entries)
			}
		})
	}
}

// mustPub is the public recorder key in data_dir dir.
func mustPub(t *testing.T, dir string) ed25519.PublicKey {
	t.Helper()
	return keyPub(t, filepath.Join(dir, recorder.KeyFile))
}
