package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// IdPUser is a user of the test IdP, logging in with Email and Password
// through Dex's local password connector. Groups end up in the "groups"
// claim when the "groups" scope is requested.
type IdPUser struct {
	Email    string
	Username string
	Password string
	Groups   []string
}

// IdP is a running Dex OpenID Connect provider (internal/testenv/testidp). Its one client,
// ClientID, is public (no secret): it may use any http loopback redirect URI
// (http://127.0.0.1:ANYPORT/ANYPATH, http://localhost:..., http://[::1]:...),
// the authorization code grant with PKCE, refresh tokens, the device grant
// and the password grant. Request the scopes "openid email groups" for email
// and groups in the ID token ("profile" adds name and preferred_username,
// "offline_access" a refresh token).
type IdP struct {
	Issuer   string // http://127.0.0.1:PORT/dex
	ClientID string // gatehouse

	logPath string
}

const testIdPClientID = "gatehouse"

// StartIdP builds internal/testenv/testidp (once per machine: the binary is cached, see
// IdPBinary) and starts it on 127.0.0.1 on a free port with the given
// users. It is stopped when the test ends.
func StartIdP(t testing.TB, users []IdPUser) *IdP {
	t.Helper()
	bin := IdPBinary(t)

	type jsonUser struct {
		Email    string   `json:"email"`
		Username string   `json:"username"`
		Password string   `json:"password"`
		Groups   []string `json:"groups"`
	}
	list := make([]jsonUser, 0, len(users))
	for _, u := range users {
		list = append(list, jsonUser{u.Email, u.Username, u.Password, u.Groups})
	}
	data, err := json.Marshal(list)
	if err != nil {
		t.Fatalf("testenv: idp: %v", err)
	}
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.json")
	if err := os.WriteFile(usersFile, data, 0o600); err != nil {
		t.Fatalf("testenv: idp: %v", err)
	}
	logPath := filepath.Join(dir, "testidp.log")

	const attempts = 5
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		issuer := "http://" + addr + "/dex"
		proc, err := startIdPProcess(bin, logPath, "--addr", addr, "--issuer", issuer,
			"--client-id", testIdPClientID, "--users", usersFile)
		if err == nil {
			t.Cleanup(func() {
				proc.stop()
				if t.Failed() {
					t.Logf("testenv: test IdP log (%s), last lines:\n%s", logPath, proc.log.tail())
				}
			})
			return &IdP{Issuer: issuer, ClientID: testIdPClientID, logPath: logPath}
		}
		if proc != nil && proc.log.contains("address already in use") && attempt < attempts {
			continue // the free port was taken in the meantime
		}
		tail := ""
		if proc != nil {
			tail = proc.log.tail()
		}
		t.Fatalf("testenv: the test IdP (%s) did not start: %v\nlog:\n%s", bin, err, tail)
	}
}

func startIdPProcess(bin, logPath string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	ready := make(chan struct{})
	var readyErr error
	seen := false
	p, err := startProcess(cmd, logPath, 30*time.Second, func(line string) {
		if seen {
			return
		}
		seen = true
		if !strings.HasPrefix(line, "testidp ready ") {
			readyErr = fmt.Errorf("unexpected first line on stdout: %q", line)
		}
		close(ready)
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
		if readyErr != nil {
			p.stop()
			return p, readyErr
		}
		return p, nil
	case <-p.exited:
		return p, fmt.Errorf("exited before it was ready: %v", p.err)
	}
}

var (
	testIdPMu  sync.Mutex
	testIdPBin string
)

// IdPBinary returns the path of the internal/testenv/testidp binary, building it with
// `go build` if it is not cached yet. The cache is
// $XDG_CACHE_HOME/gatehouse/bin (or ~/.cache/gatehouse/bin), and the file name
// carries a hash of the testidp sources, go.mod and go.sum, the Go version and
// platform, so a change to any of them builds anew and an unchanged tree
// never does. Concurrent test processes build it once (a file lock).
func IdPBinary(t testing.TB) string {
	t.Helper()
	testIdPMu.Lock()
	defer testIdPMu.Unlock()
	if testIdPBin != "" {
		return testIdPBin
	}

	src := testIdPSourceDir(t)
	hash, err := hashTree(src)
	if err != nil {
		t.Fatalf("testenv: reading the testidp sources in %s: %v", src, err)
	}
	cacheDir := binCacheDir()
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatalf("testenv: making the binary cache %s: %v (set XDG_CACHE_HOME to a writable directory)", cacheDir, err)
	}
	bin := filepath.Join(cacheDir, "testidp-"+hash)
	if isExecutable(bin) {
		testIdPBin = bin
		return bin
	}

	unlock, err := lockFile(filepath.Join(cacheDir, "testidp.lock"))
	if err != nil {
		t.Fatalf("testenv: locking the binary cache %s: %v", cacheDir, err)
	}
	defer unlock()
	if isExecutable(bin) { // built by another process while we waited
		testIdPBin = bin
		return bin
	}

	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
		if !isExecutable(goBin) {
			t.Fatalf("testenv: building the test IdP (internal/testenv/testidp) needs the Go toolchain, and `go` is not on PATH: " +
				"install Go (https://go.dev/dl, into /usr/local/go) and add /usr/local/go/bin to PATH")
		}
	}
	tmp := bin + ".tmp" + strconv.Itoa(os.Getpid())
	start := time.Now()
	cmd := exec.Command(goBin, "build", "-buildvcs=false", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		t.Fatalf("testenv: building the test IdP failed: `cd %s && go build` : %v\n%s\n"+
			"It needs the Go toolchain and Dex's modules: the Go module proxy (GOPROXY=%s) must be reachable "+
			"or the modules already in the module cache (run `cd %s && go mod download` where the proxy is reachable).",
			src, err, out, os.Getenv("GOPROXY"), src)
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		t.Fatalf("testenv: caching the test IdP binary: %v", err)
	}
	t.Logf("testenv: built the test IdP in %v: %s", time.Since(start).Round(time.Millisecond), bin)

	// Remove binaries built from other versions of the sources.
	if old, _ := filepath.Glob(filepath.Join(cacheDir, "testidp-*")); len(old) > 0 {
		for _, f := range old {
			if f != bin && !strings.Contains(filepath.Base(f), ".tmp") {
				os.Remove(f)
			}
		}
	}
	testIdPBin = bin
	return bin
}

// testIdPSourceDir finds the testidp module in this package's directory.
func testIdPSourceDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		t.Fatalf("testenv: cannot locate the testenv sources (runtime.Caller gave %q; was the test built with -trimpath?): "+
			"build tests without -trimpath so that internal/testenv/testidp can be found", file)
	}
	dir := filepath.Join(filepath.Dir(file), "testidp")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("testenv: the test IdP sources are missing (%v): internal/testenv/testidp must be checked out with internal/testenv", err)
	}
	return dir
}

// hashTree hashes the names and contents of the Go sources, go.mod and
// go.sum under dir, with the Go version and platform.
func hashTree(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, f)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

func binCacheDir() string {
	dir, err := os.UserCacheDir() // $XDG_CACHE_HOME, else ~/.cache
	if err != nil {
		dir = filepath.Join(os.TempDir(), "gatehouse-cache")
	}
	return filepath.Join(dir, "gatehouse", "bin")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// lockFile takes an exclusive flock on path, waiting for it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
