package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestReadiness(t *testing.T) {
	recorderDown := errors.New("spool full")
	for _, tt := range []struct {
		name     string
		checks   map[string]error
		starting bool
		drain    bool
		wantCode int
		wantBody []string
	}{
		{"no checks", nil, false, false, 200, []string{"ready"}},
		{"checks pass", map[string]error{"recorder": nil, "state": nil}, false, false, 200, []string{"ready"}},
		{"starting", map[string]error{"recorder": nil}, true, false, 503, []string{`"serving":"starting`}},
		{"a check fails", map[string]error{"recorder": recorderDown, "state": nil}, false, false, 503, []string{`"recorder":"spool full"`}},
		{"draining", map[string]error{"recorder": nil}, false, true, 503, []string{`"drain":"draining`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &Endpoint{}
			for name, err := range tt.checks {
				e.AddReadyCheck(name, func(context.Context) error { return err })
			}
			if !tt.starting {
				e.Serving()
			}
			if tt.drain {
				e.Drain()
			}
			h := e.Handler()
			code, body := get(t, h, "/readyz")
			if code != tt.wantCode {
				t.Errorf("/readyz = %d %s, want %d", code, body, tt.wantCode)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("/readyz body %q lacks %q", body, want)
				}
			}
			// Liveness does not depend on readiness: a draining or
			// unready server is still alive.
			if code, _ := get(t, h, "/healthz"); code != 200 {
				t.Errorf("/healthz = %d, want 200", code)
			}
		})
	}
}

// TestReadyCheckBounded: a check that blocks is cut off by its context
// and counts as failed, so a probe never hangs on it.
func TestReadyCheckBounded(t *testing.T) {
	e := &Endpoint{}
	e.Serving()
	e.AddReadyCheck("state", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	code, body := get(t, e.Handler(), "/readyz")
	if code != 503 || !strings.Contains(body, `"state":"context deadline exceeded"`) {
		t.Errorf("/readyz = %d %s, want 503 naming the state check", code, body)
	}
}

func TestMetricsServed(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_test_total", Help: "a test counter"})
	reg.MustRegister(c)
	c.Add(3)
	code, body := get(t, (&Endpoint{Gatherer: reg}).Handler(), "/metrics")
	if code != 200 || !strings.Contains(body, "gatehouse_test_total 3") {
		t.Errorf("/metrics = %d %s", code, body)
	}
	if code, _ := get(t, (&Endpoint{}).Handler(), "/metrics"); code != 404 {
		t.Errorf("/metrics without a Gatherer = %d, want 404", code)
	}
}

// TestPprofOffByDefault: the profiles show the process's memory, so the
// endpoint serves them only when asked to.
func TestPprofOffByDefault(t *testing.T) {
	for _, tt := range []struct {
		name  string
		pprof bool
		want  int
	}{
		{"default", false, http.StatusNotFound},
		{"ops.pprof", true, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := (&Endpoint{Pprof: tt.pprof}).Handler()
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
				if code, body := get(t, h, path); code != tt.want {
					t.Errorf("GET %s = %d %.80q, want %d", path, code, body, tt.want)
				}
			}
		})
	}
}
