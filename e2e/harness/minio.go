package harness

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MinIOModule is the MinIO server version the harness builds: a separate
// test server (MinIO is AGPL; gatehouse never imports it).
const MinIOModule = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// MinIO is a running MinIO server: S3 with Object Lock, for the S3
// recording store. Endpoint is http://127.0.0.1:PORT; AccessKey and
// SecretKey are its root credentials.
type MinIO struct {
	Endpoint  string
	Addr      string // 127.0.0.1:PORT
	AccessKey string
	SecretKey string
	DataDir   string
	LogFile   string

	bin, console string
	proc         *process
	owner        testing.TB // whose end stops a restarted server too
}

// StartMinIO builds MinIO once per machine (see MinIOBinary) and starts it
// on 127.0.0.1 on a free port with a fresh data directory, ready (its
// health check answers) when it returns. It is stopped and its data removed
// when the test ends: locked object versions cannot be deleted through the
// API before their retention ends, so every test gets a new server.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := MinIOBinary(t)
	base := t.TempDir()
	m := &MinIO{
		AccessKey: "gatehouse-test-" + randomHex(t, 4),
		SecretKey: randomHex(t, 20),
		DataDir:   filepath.Join(base, "data"),
		LogFile:   filepath.Join(base, "minio.log"),
	}
	const attempts = 5
	for attempt := 1; ; attempt++ {
		port, console := FreePort(t), FreePort(t)
		m.Addr = "127.0.0.1:" + strconv.Itoa(port)
		m.Endpoint = "http://" + m.Addr
		m.bin, m.console = bin, "127.0.0.1:"+strconv.Itoa(console)
		proc, err := startMinIOProcess(bin, m, m.console)
		if err == nil {
			m.proc, m.owner = proc, t
			t.Cleanup(proc.stop)
			return m
		}
		if proc != nil && proc.log.contains("address already in use") && attempt < attempts {
			continue // the free port was taken in the meantime
		}
		tail := ""
		if proc != nil {
			tail = proc.log.tail()
		}
		t.Fatalf("harness: MinIO (%s) did not start: %v\nlog (%s):\n%s", bin, err, m.LogFile, tail)
	}
}

// Stop stops the server (an outage), keeping its data for Restart.
func (m *MinIO) Stop() { m.proc.stop() }

// Restart starts a stopped server again on the same address with the
// same data, ready when it returns; it runs until the test that started
// it ends (not t, which may be a subtest).
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	proc, err := startMinIOProcess(m.bin, m, m.console)
	if err != nil {
		t.Fatalf("harness: restarting MinIO: %v", err)
	}
	m.proc = proc
	m.owner.Cleanup(proc.stop)
}

func startMinIOProcess(bin string, m *MinIO, consoleAddr string) (*process, error) {
	if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "server", m.DataDir, "--address", m.Addr, "--console-address", consoleAddr, "--quiet")
	cmd.Env = append(filteredEnv("MINIO_"), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := startProcess(cmd, m.LogFile, 20*time.Second, nil)
	if err != nil {
		return nil, err
	}

	health := "http://" + m.Addr + "/minio/health/cluster"
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.exited:
			return p, fmt.Errorf("exited before it was ready: %v", p.err)
		default:
		}
		if resp, err := client.Get(health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return p, fmt.Errorf("%s did not answer 200 within 60s", health)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	minioMu  sync.Mutex
	minioBin string
)

// MinIOBinary returns the path of the MinIO server binary, building it with
// `go install MinIOModule` if it is not cached yet (about 7.5 minutes and
// 150 MB of modules the first time). The cache is the same as the test
// IdP's, $XDG_CACHE_HOME/gatehouse/bin (or ~/.cache/gatehouse/bin), as
// minio-VERSION; concurrent test processes build it once (a file lock).
func MinIOBinary(t testing.TB) string {
	t.Helper()
	minioMu.Lock()
	defer minioMu.Unlock()
	if minioBin != "" {
		return minioBin
	}
	cacheDir := binCacheDir()
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatalf("harness: making the binary cache %s: %v (set XDG_CACHE_HOME to a writable directory)", cacheDir, err)
	}
	_, version, _ := cutLast(MinIOModule, "@")
	bin := filepath.Join(cacheDir, "minio-"+version)
	if isExecutable(bin) {
		minioBin = bin
		return bin
	}
	unlock, err := lockFile(filepath.Join(cacheDir, "minio.lock"))
	if err != nil {
		t.Fatalf("harness: locking the binary cache %s: %v", cacheDir, err)
	}
	defer unlock()
	if isExecutable(bin) { // built by another process while we waited
		minioBin = bin
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
		if !isExecutable(goBin) {
			t.Fatalf("harness: building MinIO needs the Go toolchain, and `go` is not on PATH: " +
				"install Go (https://go.dev/dl, into /usr/local/go) and add /usr/local/go/bin to PATH")
		}
	}
	tmpDir := bin + ".tmpdir" + strconv.Itoa(os.Getpid())
	os.RemoveAll(tmpDir)
	defer os.RemoveAll(tmpDir)
	t.Logf("harness: building MinIO (%s) into %s; this takes about 7.5 minutes the first time", MinIOModule, cacheDir)
	start := time.Now()
	cmd := exec.Command(goBin, "install", MinIOModule)
	cmd.Dir = os.TempDir() // outside any module: go install PKG@VERSION
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOBIN="+tmpDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("harness: building MinIO failed: `GOBIN=%s go install %s`: %v\n%s\n"+
			"It needs the Go toolchain and MinIO's modules: the Go module proxy (GOPROXY=%s) must be reachable "+
			"or the modules already in the module cache. Or put a MinIO server binary at %s yourself.",
			tmpDir, MinIOModule, err, lastBytes(out, 4000), os.Getenv("GOPROXY"), bin)
	}
	if err := os.Rename(filepath.Join(tmpDir, "minio"), bin); err != nil {
		t.Fatalf("harness: caching the MinIO binary: %v", err)
	}
	t.Logf("harness: built MinIO in %v: %s", time.Since(start).Round(time.Second), bin)
	minioBin = bin
	return bin
}

func cutLast(s, sep string) (before, after string, found bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
