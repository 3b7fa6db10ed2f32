package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// TestServeAwaitsItsGoroutines: when serve returns, the revocation
// watcher and the API's throttle reporter it started have ended, not
// merely been told to.
func TestServeAwaitsItsGoroutines(t *testing.T) {
	dir := t.TempDir()
	cfg, err := policy.Parse([]byte("data_dir: " + dir + "\nssh:\n  listen: 127.0.0.1:0\nca:\n  listen: 127.0.0.1:0\nops:\n  listen: 127.0.0.1:0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := initCAKeys(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, cfg, serveOptions{
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready:  func(caapi.Info, string) { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-served:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve not ready")
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	// No wait: whatever serve waited for is gone by now.
	for _, f := range []string{"main.watchRevocations", "ca.(*API).ReportThrottled", "main.opsServer.func1"} {
		if g := goroutineRunning(f); g != "" {
			t.Errorf("%s outlived serve:\n%s", f, g)
		}
	}
}

// TestDrainOnSIGTERM: the first SIGTERM starts a drain and leaves the
// context alone; a second one cancels it (stop at once); release ends
// the watcher.
func TestDrainOnSIGTERM(t *testing.T) {
	ctx, drain, release := drainOnSIGTERM(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer release()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-drain:
	case <-time.After(5 * time.Second):
		t.Fatal("no drain after SIGTERM")
	}
	if ctx.Err() != nil {
		t.Fatal("the first SIGTERM stopped serve instead of draining it")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a second SIGTERM did not stop serve")
	}
	release()
	if g := goroutineRunning("main.drainOnSIGTERM.func1"); g != "" {
		t.Errorf("the signal watcher outlived release:\n%s", g)
	}
}

// goroutineRunning returns the stack of a goroutine with fn on it, if any.
func goroutineRunning(fn string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		frames, _, _ := strings.Cut(g, "\ncreated by ")
		if strings.Contains(frames, fn+"(") {
			return g
		}
	}
	return ""
}
