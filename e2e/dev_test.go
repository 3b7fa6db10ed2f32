//go:build servers

package e2e

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestDevQuickstart runs `gatehouse dev` (what `make run` runs) and then
// the commands it prints, word for word, as a newcomer would.
func TestDevQuickstart(t *testing.T) {
	requireTools(t, "ssh", "psql", "bash")
	bin := gatehouseBinary(t)
	home := t.TempDir()
	sshPort, apiPort, consolePort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	dev := exec.Command(bin, "dev", "--data-dir", t.TempDir(),
		"--ssh-listen", fmt.Sprintf("127.0.0.1:%d", sshPort), "--api-listen", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--console-listen", fmt.Sprintf("127.0.0.1:%d", consolePort))
	dev.Env = append(os.Environ(), "HOME="+home)
	// An os.Pipe, not an io.Pipe: Wait must not depend on anyone reading.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	dev.Stdout, dev.Stderr = pw, pw
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	// exited is closed when dev ends; waitErr is its result then.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = dev.Wait(); close(exited) }()
	t.Cleanup(func() {
		dev.Process.Signal(os.Interrupt) // lets it stop its PostgreSQL
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			dev.Process.Kill()
			<-exited
		}
		pr.Close()
	})

	steps := readDevSteps(t, lineReader(t, pr))
	run := func(command string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", command)
		cmd.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
		out, err := runWithTimeout(cmd, time.Minute)
		if err != nil {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
		return out
	}
	run(steps[1])
	run(steps[2])
	tunnel := exec.Command("bash", "-c", "exec "+strings.TrimSuffix(strings.TrimSpace(steps[3]), "&"))
	tunnel.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
	if err := tunnel.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { tunnel.Process.Kill(); tunnel.Wait() }()
	waitPort(t, "127.0.0.1:15432")
	// The demo role's masking policy pii masks the e-mail addresses.
	quick := run(steps[4])
	mustContain(t, "the quickstart query", quick, "a***@example.com", "(5 rows)")
	mustNotContain(t, "the quickstart query", quick, "ada@example.com")
	tunnel.Process.Kill()
	tunnel.Wait()
	mustContain(t, "gatehouse sessions", run(steps[5]), "dev@gatehouse.local", "demo", "intact")
	openDevConsole(t, steps[6], fmt.Sprintf("http://127.0.0.1:%d", consolePort))

	// Ctrl-C stops everything gatehouse dev started.
	dev.Process.Signal(os.Interrupt)
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("gatehouse dev exited with %v after Ctrl-C", waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse dev did not stop within 30s of Ctrl-C")
	}
}

// readDevSteps collects the numbered commands gatehouse dev prints: the
// indented line after "N. ...".
func readDevSteps(t *testing.T, lines <-chan string) map[int]string {
	t.Helper()
	steps := map[int]string{}
	step := 0
	timeout := time.After(2 * time.Minute)
	var seen strings.Builder
	for len(steps) < 6 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("gatehouse dev ended before printing its steps:\n%s", seen.String())
			}
			seen.WriteString(l + "\n")
			if n := 0; len(l) > 2 && l[1] == '.' && l[0] >= '1' && l[0] <= '9' {
				fmt.Sscanf(l, "%d.", &n)
				step = n
			} else if strings.HasPrefix(l, "   ") && step > 0 {
				steps[step] = strings.TrimSpace(l)
				step = 0
			}
		case <-timeout:
			t.Fatalf("gatehouse dev printed no steps in 2 minutes:\n%s", seen.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return steps
}

func waitPort(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !tcpUp(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening after 20s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openDevConsole opens the console link gatehouse dev printed, as a
// browser would: it logs in once and shows the recorded session, with
// its page verified; the same link again is refused.
func openDevConsole(t *testing.T, link, base string) {
	t.Helper()
	if !strings.HasPrefix(link, base+"/link/") {
		t.Fatalf("the printed console link %q is not on %s", link, base)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: time.Minute}
	get := func(u string) (int, string) {
		t.Helper()
		resp := consoleGet(t, browser, u)
		return resp.StatusCode, resp.body
	}
	if code, body := get(link); code != http.StatusOK || !strings.Contains(body, "Logged in") {
		t.Fatalf("the console link: %d\n%s", code, body)
	}
	code, body := get(base + "/sessions")
	if code != http.StatusOK {
		t.Fatalf("/sessions: %d\n%s", code, body)
	}
	mustContain(t, "the console's sessions page", body, "dev-auditor", "dev@gatehouse.local", "demo", "verified")
	m := regexp.MustCompile(`href="(/sessions/[0-9TZ]+-[0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no session link on the sessions page:\n%s", body)
	}
	code, page := get(base + m[1])
	if code != http.StatusOK {
		t.Fatalf("%s: %d", m[1], code)
	}
	mustContain(t, "the session page", page, "Verification: verified", "SELECT name, email, card_number FROM customers LIMIT 5")
	jar2, _ := cookiejar.New(nil)
	browser = &http.Client{Jar: jar2, Timeout: time.Minute}
	if code, body := get(link); code != http.StatusForbidden {
		t.Fatalf("the console link used again: %d\n%s", code, body)
	}
}
