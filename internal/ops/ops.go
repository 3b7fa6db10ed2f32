// Package ops is the operations endpoint of `gatehouse serve`: /metrics
// for Prometheus, /healthz (the process is alive) and /readyz (it takes
// new sessions). Readiness is a list of named checks that the parts of
// the server add (the recorder, the state store), and fails at once, for
// good, when the server starts draining. With Pprof set it also serves
// the Go runtime's profiles under /debug/pprof/.
package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// checkTimeout bounds one /readyz: a check that hangs (a database that
// does not answer) counts as failed rather than holding the probe.
const checkTimeout = 2 * time.Second

// Endpoint serves the operations endpoint. Its zero value has no checks
// and no metrics; use Handler to serve it.
type Endpoint struct {
	// Gatherer is what /metrics exposes; nil serves no /metrics.
	Gatherer prometheus.Gatherer
	// Pprof serves net/http/pprof under /debug/pprof/ (heap, goroutine
	// stacks, CPU): off unless set (ops.pprof), because a profile shows
	// the process's memory layout and a CPU profile costs CPU.
	Pprof bool

	serving  atomic.Bool
	draining atomic.Bool
	mu       sync.Mutex
	checks   []check
}

type check struct {
	name string
	f    func(context.Context) error
}

// AddReadyCheck adds a check /readyz runs: f reports why the server
// cannot take new sessions now (nil: it can). f runs on the request's
// goroutine with a bounded context, once per probe; it must not block
// past the context. Safe to call while serving.
func (e *Endpoint) AddReadyCheck(name string, f func(context.Context) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checks = append(e.checks, check{name, f})
}

// Serving says the server's listeners are up: /readyz fails until then.
func (e *Endpoint) Serving() { e.serving.Store(true) }

// Drain makes /readyz fail from now on: the server takes no new sessions.
func (e *Endpoint) Drain() { e.draining.Store(true) }

// Handler serves GET /metrics, /healthz and /readyz.
func (e *Endpoint) Handler() http.Handler {
	mux := http.NewServeMux()
	if e.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(e.Gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", e.ready)
	if e.Pprof {
		handlePprof(mux)
	}
	return mux
}

// handlePprof registers the profiles on mux itself: the package's init
// registers them on http.DefaultServeMux, which gatehouse never serves.
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// readiness is /readyz's JSON body when it fails: each failing check by
// name with its reason.
type readiness struct {
	Status string            `json:"status"`
	Failed map[string]string `json:"failed"`
}

func (e *Endpoint) ready(w http.ResponseWriter, r *http.Request) {
	failed := e.failing(r.Context())
	if len(failed) == 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ready\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(readiness{Status: "not ready", Failed: failed})
}

// failing runs every check and returns the reasons of those that fail.
func (e *Endpoint) failing(ctx context.Context) map[string]string {
	failed := map[string]string{}
	if !e.serving.Load() {
		failed["serving"] = "starting: the listeners are not up yet"
	}
	if e.draining.Load() {
		failed["drain"] = "draining: the server takes no new sessions"
	}
	e.mu.Lock()
	checks := append([]check(nil), e.checks...)
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	for _, c := range checks {
		if err := c.f(ctx); err != nil {
			failed[c.name] = err.Error()
		}
	}
	return failed
}
