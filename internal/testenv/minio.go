package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MinIOModule is the MinIO server version scripts/test-deps.sh builds: a separate
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

// StartMinIO starts the MinIO server built by `make test-deps` (see MinIOBinary)
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
		t.Fatalf("testenv: MinIO (%s) did not start: %v\nlog (%s):\n%s", bin, err, m.LogFile, tail)
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
		t.Fatalf("testenv: restarting MinIO: %v", err)
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

// MinIOBinary returns the path of the MinIO server binary that
// `make test-deps` (scripts/test-deps.sh) builds once per machine into
// $XDG_CACHE_HOME/gatehouse/bin (or ~/.cache/gatehouse/bin), as
// minio-VERSION. Tests never build it: that takes about 7.5 minutes, longer
// than a test package's timeout, and every package would race to do it. A
// missing binary fails the test, saying to run `make test-deps`.
func MinIOBinary(t testing.TB) string {
	t.Helper()
	bin, err := minioBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return bin
}

// MinIOCachePath is where `make test-deps` puts the MinIO binary.
func MinIOCachePath() string {
	_, version, _ := strings.Cut(MinIOModule, "@")
	return filepath.Join(binCacheDir(), "minio-"+version)
}

func minioBinary() (string, error) {
	bin := MinIOCachePath()
	if !isExecutable(bin) {
		return "", fmt.Errorf("the MinIO server (%s) is not built at %s: run `make test-deps` once "+
			"(it builds MinIO into that cache, about 7.5 minutes the first time)", MinIOModule, bin)
	}
	return bin, nil
}
