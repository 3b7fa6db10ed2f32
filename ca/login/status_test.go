package login

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"golang.org/x/crypto/ssh"
)

// certWithValidity is an unsigned certificate with the given window.
func certWithValidity(after, before uint64) *ssh.Certificate {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewPublicKey(pub)
	return &ssh.Certificate{Key: key, CertType: ssh.UserCert, ValidAfter: after, ValidBefore: before}
}

// writeTestProfile signs cert with a fresh CA and writes it, with
// profile.json, where Login would.
func writeTestProfile(t *testing.T, home, profile string, cert *ssh.Certificate) {
	t.Helper()
	if err := cert.SignCert(rand.Reader, newSigner(t)); err != nil {
		t.Fatal(err)
	}
	dir := profileDir(home, profile)
	if err := makePrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		certFileName:    string(ssh.MarshalAuthorizedKey(cert)),
		profileFileName: `{"server": "http://127.0.0.1:8443", "ssh_address": "127.0.0.1:2222", "ssh_host_alias": "gatehouse"}`,
	}
	for name, data := range files {
		if err := writeFileAtomic(filepath.Join(dir, name), []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadStatus(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	id := policy.Identity{Subject: "user-1234", Email: "alice@example.com", Groups: []string{"engineering"},
		Issuer: "https://idp.example.com", Serial: 7}
	for _, tc := range []struct {
		name          string
		after, before time.Time
		expired       bool
		remaining     time.Duration
		want          []string
	}{
		{"valid", now.Add(-time.Minute), now.Add(59 * time.Minute), false, 59 * time.Minute,
			[]string{"identity: alice@example.com", "subject:  user-1234 at https://idp.example.com",
				"groups:   engineering", "grants:   orders:readonly", "serial:   7", "validity: 59m left, until ",
				"server:   http://127.0.0.1:8443"}},
		{"expired", now.Add(-time.Hour), now.Add(-3 * time.Minute), true, -3 * time.Minute,
			[]string{"validity: expired 3m ago — run gatehouse login"}},
		{"expires now", now.Add(-time.Hour), now, true, 0,
			[]string{"validity: expired 0s ago — run gatehouse login"}},
		{"not yet valid", now.Add(time.Hour), now.Add(2 * time.Hour), false, 2 * time.Hour,
			[]string{"validity: not valid before "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			cert := certWithValidity(uint64(tc.after.Unix()), uint64(tc.before.Unix()))
			cert.Serial, cert.KeyId, cert.ValidPrincipals = 7, id.Name(), []string{"orders:readonly"}
			cert.Extensions = map[string]string{policy.IdentityExtension: id.Encode()}
			writeTestProfile(t, home, "work", cert)

			st, err := ReadStatus(home, "work", now)
			if err != nil {
				t.Fatal(err)
			}
			if st.Expired != tc.expired || st.Remaining != tc.remaining || st.Serial != 7 ||
				st.Identity.Email != id.Email || st.Server != "http://127.0.0.1:8443" || st.Profile != "work" {
				t.Errorf("status %+v", st)
			}
			text := st.String()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("String() lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestReadStatusMissing(t *testing.T) {
	home := t.TempDir()
	if _, err := ReadStatus(home, "", time.Now()); !errors.Is(err, ErrNotLoggedIn) || err.Error() != "not logged in: run gatehouse login" {
		t.Errorf("default profile: %v", err)
	}
	if _, err := ReadStatus(home, "work", time.Now()); !errors.Is(err, ErrNotLoggedIn) || !strings.Contains(err.Error(), "--profile work") {
		t.Errorf("named profile: %v", err)
	}
}

func TestReadStatusBadFiles(t *testing.T) {
	home := t.TempDir()
	cert := certWithValidity(0, 1<<40)
	cert.ValidPrincipals = []string{"orders:readonly"}
	cert.Extensions = map[string]string{policy.IdentityExtension: `{"sub": ""}`}
	writeTestProfile(t, home, "default", cert)
	if _, err := ReadStatus(home, "", time.Now()); err == nil || !strings.Contains(err.Error(), "identity@gatehouse") {
		t.Errorf("bad identity extension: %v", err)
	}
	path := filepath.Join(profileDir(home, "default"), certFileName)
	if err := os.WriteFile(path, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStatus(home, "", time.Now()); err == nil || !strings.Contains(err.Error(), "not a certificate") {
		t.Errorf("plain key: %v", err)
	}
}

func TestStatusWithoutIdentityExtension(t *testing.T) {
	home := t.TempDir()
	cert := certWithValidity(0, ssh.CertTimeInfinity)
	cert.KeyId = "ops-bot"
	cert.ValidPrincipals = []string{"orders:readonly", "orders:admin"}
	writeTestProfile(t, home, "default", cert)
	st, err := ReadStatus(home, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	text := st.String()
	for _, w := range []string{"identity: ops-bot", "grants:   orders:readonly, orders:admin", "validity: never expires"} {
		if !strings.Contains(text, w) {
			t.Errorf("String() lacks %q:\n%s", w, text)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{42*time.Second + 300*time.Millisecond, "42s"},
		{59*time.Second + 700*time.Millisecond, "1m"},
		{59 * time.Minute, "59m"},
		{59*time.Minute + 50*time.Second, "1h"},
		{65 * time.Minute, "1h5m"},
		{2 * time.Hour, "2h"},
		{76 * time.Hour, "3d4h"},
		{48 * time.Hour, "2d"},
	} {
		if got := humanDuration(tc.d); got != tc.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
