//go:build servers

package e2e

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// profile is one engineer's ~/.gatehouse/PROFILE after a login.
type profile struct {
	home, name string
}

func (p profile) dir() string   { return filepath.Join(p.home, ".gatehouse", p.name) }
func (p profile) key() string   { return filepath.Join(p.dir(), "id_ed25519") }
func (p profile) cert() string  { return filepath.Join(p.dir(), "id_ed25519-cert.pub") }
func (p profile) env() []string { return append(os.Environ(), "HOME="+p.home, "SSH_AUTH_SOCK=") }
func (w *world) newProfile(name string) profile {
	return profile{home: w.t.TempDir(), name: name}
}

// loginResult is what `gatehouse login` printed and how it ended.
type loginResult struct {
	out string
	err error
}

// login runs `gatehouse login` and completes the IdP's side with complete,
// which gets the lines the command prints (to find the URL or user code).
func (w *world) login(p profile, extraArgs []string, complete func(lines <-chan string) error) loginResult {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"login", "--server", w.apiURL, "--profile", p.name, "--no-browser"}, extraArgs...)
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = p.env()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	var all strings.Builder
	lines := lineReader(w.t, pr)
	tee := make(chan string, 100)
	go func() {
		defer close(tee)
		for l := range lines {
			all.WriteString(l + "\n")
			tee <- l
		}
	}()
	completeErr := make(chan error, 1)
	go func() { completeErr <- complete(tee) }()
	waitErr := cmd.Wait()
	pw.Close()
	if err := <-completeErr; err != nil {
		w.t.Fatalf("completing the IdP login: %v\ngatehouse login printed:\n%s", err, all.String())
	}
	for range tee {
	}
	return loginResult{out: all.String(), err: waitErr}
}

// authCodeLogin completes an authorization code + PKCE login as user.
func (w *world) authCodeLogin(p profile, user testenv.IdPUser) loginResult {
	return w.login(p, nil, func(lines <-chan string) error {
		for l := range lines {
			if strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err := w.idp.CompleteAuthCodeLogin(ctx, l, user.Email, user.Password)
				drain(lines)
				return err
			}
		}
		return nil // the command ended before printing a URL; its output says why
	})
}

var (
	visitRe = regexp.MustCompile(`^Visit: (\S+)`)
	codeRe  = regexp.MustCompile(`^Code: (\S+)`)
)

func (w *world) deviceLogin(p profile, user testenv.IdPUser) loginResult {
	return w.login(p, []string{"--device"}, func(lines <-chan string) error {
		var uri string
		for l := range lines {
			if m := visitRe.FindStringSubmatch(l); m != nil {
				uri = m[1]
			}
			if m := codeRe.FindStringSubmatch(l); m != nil && uri != "" {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err := w.idp.CompleteDeviceLogin(ctx, uri, m[1], user.Email, user.Password)
				drain(lines)
				return err
			}
		}
		return nil
	})
}

func drain(lines <-chan string) {
	go func() {
		for range lines {
		}
	}()
}

// keygenL is `ssh-keygen -L -f CERT`: OpenSSH's own reading of a certificate.
func keygenL(t *testing.T, cert string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-L", "-f", cert).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -L: %v\n%s", err, out)
	}
	return string(out)
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s does not contain %q:\n%s", what, want, text)
		}
	}
}

func mustNotContain(t *testing.T, what, text string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(text, b) {
			t.Errorf("%s contains %q:\n%s", what, b, text)
		}
	}
}

var validRe = regexp.MustCompile(`Valid: from (\S+) to (\S+)`)

// checkCertificate asserts what DESIGN.md says a user certificate carries.
func checkCertificate(t *testing.T, cert string, keyID, principals string, maxTTL time.Duration) {
	t.Helper()
	info := keygenL(t, cert)
	mustContain(t, "certificate", info,
		"Type: ssh-ed25519-cert-v01@openssh.com user certificate",
		`Key ID: "`+keyID+`"`,
		"Principals: \n                "+principals,
		"permit-port-forwarding",
		"identity@gatehouse",
		"Critical Options: (none)")
	mustNotContain(t, "certificate", info, "permit-pty", "permit-agent-forwarding", "permit-X11-forwarding", "permit-user-rc")
	m := validRe.FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("no validity in:\n%s", info)
	}
	from, err1 := time.ParseInLocation("2006-01-02T15:04:05", m[1], time.Local)
	to, err2 := time.ParseInLocation("2006-01-02T15:04:05", m[2], time.Local)
	if err1 != nil || err2 != nil {
		t.Fatalf("validity %q %q: %v %v", m[1], m[2], err1, err2)
	}
	if life := to.Sub(from); life > maxTTL+2*time.Minute || life < maxTTL-5*time.Minute {
		t.Errorf("certificate lives %s, want about %s (plus the skew allowance)", life, maxTTL)
	}
	if time.Until(to) <= 0 {
		t.Errorf("certificate already expired: %s", m[2])
	}
}

func testLoginAuthCode(t *testing.T, w *world) profile {
	p := w.newProfile("alice")
	res := w.authCodeLogin(p, alice)
	if res.err != nil {
		t.Fatalf("login failed: %v\n%s", res.err, res.out)
	}
	checkCertificate(t, p.cert(), "alice@example.com", "orders:readonly", time.Hour)
	for _, f := range []string{p.key(), p.cert(), filepath.Join(p.dir(), "known_hosts")} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	status := w.gatehouseAs(p, "status", "--profile", p.name)
	mustContain(t, "gatehouse status", status, "alice@example.com", "orders:readonly")
	return p
}

func testLoginDevice(t *testing.T, w *world) {
	p := w.newProfile("alice-device")
	res := w.deviceLogin(p, alice)
	if res.err != nil {
		t.Fatalf("device login failed: %v\n%s", res.err, res.out)
	}
	checkCertificate(t, p.cert(), "alice@example.com", "orders:readonly", time.Hour)
}

func testLoginNoGrant(t *testing.T, w *world) {
	p := w.newProfile("bob")
	res := w.authCodeLogin(p, bob)
	if res.err == nil {
		t.Fatalf("bob (group sales, no grant) got a certificate:\n%s", res.out)
	}
	mustContain(t, "login output", res.out, "no_grant", "sales")
	if _, err := os.Stat(p.cert()); err == nil {
		t.Error("a certificate file was written for a refused login")
	}
	ev := w.findCAEvent(t, "cert.refused", "bob@example.com")
	mustContain(t, "cert.refused event", ev, "no_grant")
}

// gatehouseAs runs the binary with a profile's HOME.
func (w *world) gatehouseAs(p profile, args ...string) string {
	w.t.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Env = p.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
