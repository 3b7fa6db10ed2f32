package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const haproxyInstallHint = "install HAProxy with: apt-get install -y haproxy (Debian 12; `make test-deps` does it)"

// HAProxy is a load balancer started by StartHAProxy from a configuration
// the test writes.
type HAProxy struct {
	ConfigFile string
	LogFile    string // its stdout and stderr
	proc       *process
}

// HAProxyBinary returns the path of the haproxy binary (Debian installs
// it in /usr/sbin, which a user's PATH may lack), or fails the test
// saying how to install it.
func HAProxyBinary(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("haproxy"); err == nil {
		return bin
	}
	if isExecutable("/usr/sbin/haproxy") {
		return "/usr/sbin/haproxy"
	}
	t.Fatalf("testenv: haproxy is not installed: %s", haproxyInstallHint)
	return ""
}

// StartHAProxy checks config (haproxy -c), runs haproxy in the
// foreground with it until the test ends, and returns once listen (one
// of its frontends' addresses) accepts connections.
func StartHAProxy(t testing.TB, config, listen string) *HAProxy {
	t.Helper()
	bin := HAProxyBinary(t)
	dir := t.TempDir()
	h := &HAProxy{ConfigFile: filepath.Join(dir, "haproxy.cfg"), LogFile: filepath.Join(dir, "haproxy.log")}
	if err := os.WriteFile(h.ConfigFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", h.ConfigFile).CombinedOutput(); err != nil {
		t.Fatalf("testenv: haproxy -c refuses the configuration: %v\n%s\n%s", err, out, config)
	}
	proc, err := startProcess(exec.Command(bin, "-db", "-f", h.ConfigFile), h.LogFile, 5*time.Second, nil)
	if err != nil {
		t.Fatalf("testenv: haproxy: %v", err)
	}
	h.proc = proc
	t.Cleanup(proc.stop)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
			c.Close()
			return h
		}
		select {
		case <-proc.exited:
			t.Fatalf("testenv: haproxy exited: %v\n%s", proc.err, proc.log.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: haproxy not listening on %s after 15s\n%s", listen, proc.log.tail())
		}
	}
}
