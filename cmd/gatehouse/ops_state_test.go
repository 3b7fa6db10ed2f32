package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/pgstate"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

// TestObserveSharedState: with the shared state database unreachable,
// /readyz fails naming "state", the failed operations count under their
// op, and the revocation watcher is not listening; with the files in
// data_dir there is no state check at all.
func TestObserveSharedState(t *testing.T) {
	for _, tt := range []struct {
		name      string
		shared    bool
		wantCode  int
		wantReady []string
		wantMet   []string
	}{
		{"file state", false, 200, []string{"ready"}, nil},
		{"shared state unreachable", true, 503, []string{`"state":"pgstate: ping: the shared state database is unavailable`},
			[]string{`gatehouse_state_store_errors_total{op="ping"} 1`, `gatehouse_state_store_errors_total{op="requests"} 1`,
				"gatehouse_state_revocations_listening 0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := &caState{}
			if tt.shared {
				st.shared = unreachableStore(t)
				st.revs = st.shared.Revocations()
			}
			m := metrics.New()
			ep := &ops.Endpoint{Gatherer: m.Registry()}
			observeSharedState(m, ep, st)
			ep.Serving()
			code, body := opsGet(t, ep, "/readyz")
			if code != tt.wantCode || !containsAll(body, tt.wantReady) {
				t.Fatalf("/readyz: %d %s, want %d with %q", code, body, tt.wantCode, tt.wantReady)
			}
			if tt.shared {
				if _, err := st.shared.Requests().All(); err == nil {
					t.Fatal("reading requests of an unreachable database succeeded")
				}
			}
			if _, body := opsGet(t, ep, "/metrics"); !containsAll(body, tt.wantMet) {
				t.Fatalf("/metrics lacks %q:\n%s", tt.wantMet, body)
			}
		})
	}
}

// unreachableStore is a shared state store whose database refuses
// connections (a port listened on and closed).
func unreachableStore(t *testing.T) *pgstate.Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := pgstate.Connect(context.Background(), fmt.Sprintf("postgres://gatehouse@127.0.0.1:%d/state?sslmode=disable", port))
	if err != nil {
		t.Fatal(err)
	}
	s.Timeout = time.Second
	t.Cleanup(s.Close)
	return s
}

func opsGet(t *testing.T, ep *ops.Endpoint, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	ep.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
