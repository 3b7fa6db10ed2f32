package login

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/krl"
)

// TestStatusRevocation: status asks the server's KRL, and a revoked,
// expired or not yet valid certificate is a problem that says what to
// run; one the server cannot vouch for is an error, never "not revoked".
func TestStatusRevocation(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	valid := func() (uint64, uint64) {
		return uint64(now.Add(-time.Minute).Unix()), uint64(now.Add(time.Hour).Unix())
	}
	cases := []struct {
		name        string
		serial      uint64
		window      func() (uint64, uint64)
		serve       func(w http.ResponseWriter, revoked []uint64)
		revoked     []uint64
		wantErr     string // from CheckRevocation
		wantRevoked bool
		wantProblem string // "" for none
		wantLine    string
	}{
		{name: "listed serial", serial: 7, window: valid, revoked: []uint64{3, 7}, serve: serveKRL,
			wantRevoked: true, wantProblem: "serial 7 is revoked: run gatehouse login", wantLine: "revoked:  YES"},
		{name: "not listed", serial: 8, window: valid, revoked: []uint64{3, 7}, serve: serveKRL,
			wantLine: "revoked:  no (checked with http://127.0.0.1:"},
		{name: "expired and not listed", serial: 8, serve: serveKRL,
			window: func() (uint64, uint64) {
				return uint64(now.Add(-time.Hour).Unix()), uint64(now.Add(-time.Minute).Unix())
			},
			wantProblem: "expired 1m ago: run gatehouse login"},
		{name: "not yet valid", serial: 8, serve: serveKRL,
			window: func() (uint64, uint64) {
				return uint64(now.Add(time.Hour).Unix()), uint64(now.Add(2 * time.Hour).Unix())
			},
			wantProblem: "not valid before"},
		{name: "server serves no list", serial: 7, window: valid,
			serve:   func(w http.ResponseWriter, _ []uint64) { http.Error(w, "no", http.StatusNotFound) },
			wantErr: "checking revocation"},
		{name: "server serves garbage", serial: 7, window: valid,
			serve:   func(w http.ResponseWriter, _ []uint64) { w.Write([]byte("<html>")) },
			wantErr: "not an OpenSSH KRL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			after, before := tc.window()
			cert := certWithValidity(after, before)
			cert.Serial, cert.ValidPrincipals = tc.serial, []string{"orders:readonly"}
			writeTestProfile(t, home, "work", cert)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/krl" {
					http.NotFound(w, r)
					return
				}
				tc.serve(w, tc.revoked)
			}))
			defer ts.Close()
			st, err := ReadStatus(home, "work", now)
			if err != nil {
				t.Fatal(err)
			}
			st.Server = ts.URL
			err = st.CheckRevocation(context.Background(), ts.Client())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("CheckRevocation: %v, want an error saying %q", err, tc.wantErr)
				}
				if st.RevocationChecked || st.Revoked {
					t.Errorf("a failed check left checked=%v revoked=%v", st.RevocationChecked, st.Revoked)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckRevocation: %v", err)
			}
			if st.Revoked != tc.wantRevoked {
				t.Errorf("Revoked = %v, want %v", st.Revoked, tc.wantRevoked)
			}
			problem := st.Problem()
			switch {
			case tc.wantProblem == "" && problem != nil:
				t.Errorf("Problem() = %v, want none", problem)
			case tc.wantProblem != "" && (problem == nil || !strings.Contains(problem.Error(), tc.wantProblem) || !errors.Is(problem, ErrUnusable)):
				t.Errorf("Problem() = %v, want one saying %q", problem, tc.wantProblem)
			}
			if !strings.Contains(st.String(), tc.wantLine) {
				t.Errorf("String() lacks %q:\n%s", tc.wantLine, st.String())
			}
		})
	}
}

// serveKRL answers with a KRL revoking the serials for any CA.
func serveKRL(w http.ResponseWriter, revoked []uint64) {
	k := krl.KRL{Version: 1}
	if len(revoked) > 0 {
		k.Certificates = []krl.CertificateSection{{Serials: revoked}}
	}
	b, err := k.MarshalBinary()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(b)
}
