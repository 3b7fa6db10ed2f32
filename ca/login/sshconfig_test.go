package login

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeProfileJSON(t *testing.T, home, profile, data string) {
	t.Helper()
	dir := profileDir(home, profile)
	if err := makePrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, profileFileName), []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func TestSSHConfig(t *testing.T) {
	for _, tc := range []struct {
		name, home, profile, json string
		want                      string
	}{
		{"plain", "/home/alice", "default",
			`{"server":"http://127.0.0.1:8443","ssh_address":"127.0.0.1:2222","ssh_host_alias":"gatehouse"}`,
			`Host gatehouse
  HostName 127.0.0.1
  Port 2222
  User gatehouse
  IdentityFile /home/alice/.gatehouse/default/id_ed25519
  CertificateFile /home/alice/.gatehouse/default/id_ed25519-cert.pub
  IdentitiesOnly yes
  UserKnownHostsFile /home/alice/.gatehouse/default/known_hosts
  HostKeyAlias gatehouse
  StrictHostKeyChecking yes
  ExitOnForwardFailure yes
  ServerAliveInterval 30
`},
		{"spaces, percent, IPv6", "/Users/Alice Smith/100%", "prod",
			`{"ssh_address":"[::1]:22","ssh_host_alias":"gh-prod"}`,
			`Host gh-prod
  HostName ::1
  Port 22
  User gatehouse
  IdentityFile "/Users/Alice Smith/100%%/.gatehouse/prod/id_ed25519"
  CertificateFile "/Users/Alice Smith/100%%/.gatehouse/prod/id_ed25519-cert.pub"
  IdentitiesOnly yes
  UserKnownHostsFile "/Users/Alice Smith/100%%/.gatehouse/prod/known_hosts"
  HostKeyAlias gh-prod
  StrictHostKeyChecking yes
  ExitOnForwardFailure yes
  ServerAliveInterval 30
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The block names absolute paths under home; build them in a
			// temporary directory and compare with home substituted.
			tmp := t.TempDir()
			home := filepath.Join(tmp, tc.home)
			writeProfileJSON(t, home, tc.profile, tc.json)
			got, err := SSHConfig(home, tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			got = strings.ReplaceAll(got, strings.ReplaceAll(tmp, "%", "%%"), "")
			if got != tc.want {
				t.Errorf("SSHConfig =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestSSHConfigRefuses(t *testing.T) {
	home := t.TempDir()
	if _, err := SSHConfig(home, "default"); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("no profile: %v", err)
	}
	for _, bad := range []string{
		`{"ssh_address":"127.0.0.1"}`,
		`{"ssh_address":"127.0.0.1:22","ssh_host_alias":"gatehouse\n  ProxyCommand evil"}`,
		`{"ssh_address":"127.0.0.1:22 -oProxyCommand=x"}`,
	} {
		writeProfileJSON(t, home, "default", bad)
		if out, err := SSHConfig(home, "default"); err == nil {
			t.Errorf("profile %s gave\n%s", bad, out)
		}
	}
	if _, err := configPath("/home/${USER}/x"); err == nil {
		t.Error(`configPath accepted "${"`)
	}
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
}

func TestSSHConfigDefaultAlias(t *testing.T) {
	home := t.TempDir()
	writeProfileJSON(t, home, "default", `{"ssh_address":"127.0.0.1:2222"}`)
	got, err := SSHConfig(home, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "Host gatehouse\n") || !strings.Contains(got, "HostKeyAlias gatehouse\n") {
		t.Errorf("SSHConfig =\n%s", got)
	}
}
