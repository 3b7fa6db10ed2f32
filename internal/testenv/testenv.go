// Package testenv starts real servers on 127.0.0.1 for the gatehouse tests
// that need them (the end-to-end tests in e2e, and the few package tests
// built with the "servers" tag): PostgreSQL 15 (StartPostgres), MinIO
// (StartMinIO) and an OpenID Connect provider, Dex, built from the testidp
// module beside this package (StartIdP). It also drives the IdP's login pages
// without a browser (IdP.CompleteAuthCodeLogin, IdP.CompleteDeviceLogin).
//
// Every function fails the test with t.Fatalf, saying how to install what is
// missing; nothing is skipped. Every server, process and directory is removed
// with t.Cleanup. Child processes get a parent-death signal, so they also go
// away when the test binary is killed.
package testenv

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// servers started by this package retry with another port if theirs was taken
// in between.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: cannot listen on 127.0.0.1 to find a free port: %v (the loopback interface must be up)", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// randomHex returns n random bytes, hex encoded.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: reading random bytes: %v", err)
	}
	return hex.EncodeToString(b)
}

// logBuffer collects a child process's output lines, keeping the last ones in
// memory for error messages while also writing everything to a file.
type logBuffer struct {
	mu    sync.Mutex
	file  *os.File
	lines []string
}

const keepLogLines = 60

func newLogBuffer(path string) (*logBuffer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &logBuffer{file: f}, nil
}

func (l *logBuffer) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.file.WriteString(line + "\n")
	l.lines = append(l.lines, line)
	if len(l.lines) > keepLogLines {
		l.lines = l.lines[len(l.lines)-keepLogLines:]
	}
}

// tail returns the last lines collected.
func (l *logBuffer) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (l *logBuffer) close() { l.file.Close() }

// maxLogLine is how much of one line scanLines passes on; the rest of a
// longer line (a logged multi-megabyte statement) is dropped, and said so.
const maxLogLine = 1 << 20

// scanLines feeds each line read from r to fn until r ends. A line longer
// than maxLogLine is cut rather than ending the scan: a reader that stops
// would leave the server writing into a pipe nobody reads.
func scanLines(r interface{ Read([]byte) (int, error) }, fn func(string)) {
	br := bufio.NewReaderSize(r, 64*1024)
	var line []byte
	cut := false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) <= maxLogLine {
			line = append(line, chunk...)
		} else {
			cut = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(line) > 0 || cut {
			text := string(bytes.TrimRight(line, "\r\n"))
			if cut {
				text += " [line cut at 1 MiB]"
			}
			fn(text)
		}
		line, cut = line[:0], false
		if err != nil {
			return
		}
	}
}

// filteredEnv returns the environment without variables whose names start
// with one of the prefixes.
func filteredEnv(prefixes ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}
