package main

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// smallStacks is the runtime setting serve runs with: goroutines start
// with the runtime's smallest stack rather than the average of those it
// has seen. A session's goroutines (the SSH library's read, key-exchange
// and mux loops, the relay's two, the channel's request drain) spend
// their life blocked in shallow reads, while the average is raised by the
// few deep ones (the TLS handshake to the database, the SQL parser's
// callers); with the default every idle session kept stacks sized for
// those. 1,000 idle sessions: 162 → 142 MiB (docs/benchmarks.md,
// "Goroutine stacks of idle sessions"). The runtime reads it only at
// start (it is not one of the //go:debug settings), hence the re-exec.
const smallStacks = "adaptivestackstart=0"

// reexecWithSmallStacks runs serve again, in this process (same pid), with
// smallStacks added to GODEBUG, unless the environment already says
// anything of adaptivestackstart (an operator's choice is kept). It
// returns only when it does not re-exec: not serve, not Linux, or the
// executable cannot be found or run, in which case serve goes on with the
// runtime's default.
func reexecWithSmallStacks(args []string) {
	if runtime.GOOS != "linux" || len(args) == 0 || args[0] != "serve" {
		return
	}
	env, ok := smallStacksEnv(os.Environ())
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env) // returns only if it failed
}

// smallStacksEnv is environ with smallStacks in GODEBUG, and whether it
// had to be added.
func smallStacksEnv(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	godebug := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		out = append(out, kv)
	}
	if strings.Contains(godebug, "adaptivestackstart=") {
		return environ, false
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+smallStacks), true
}
