package ca

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// downState is shared state whose database cannot be reached.
type downState struct{}

var errDown = fmt.Errorf("pgstate: read: %w: dial tcp 10.0.0.9:5432: connection refused", ErrStateUnavailable)

func (downState) Get(string) (AccessRequest, bool, error) { return AccessRequest{}, false, errDown }
func (downState) All() ([]AccessRequest, error)           { return nil, errDown }
func (downState) Approved(policy.Identity, time.Time) ([]AccessRequest, error) {
	return nil, errDown
}
func (downState) Add(AccessRequest, time.Time, func() error) error { return errDown }
func (downState) Decide(AccessRequest, func() error) error         { return errDown }

type downLog struct{}

func (downLog) Add(IssuedEvent) error { return errDown }

// TestLostStateRefuses: with the shared state database gone, issuance,
// filing, deciding and listing requests are refused with 503 and a
// message that names the cause (the state database) and the fix
// (state.dsn_env's database), the cause itself kept for the log; every
// refusal is recorded and no certificate is issued.
func TestLostStateRefuses(t *testing.T) {
	steps := []struct {
		name string
		run  func(a *Authority) error
	}{
		{"issue, approvals unreadable", func(a *Authority) error {
			a.Issued = nil
			_, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC})
			return err
		}},
		{"issue, issuance cannot be kept", func(a *Authority) error {
			a.Requests = nil
			_, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC})
			return err
		}},
		{"file", func(a *Authority) error {
			_, err := a.FileRequest(alice(), "orders:admin", "INC-1", 0)
			return err
		}},
		{"decide", func(a *Authority) error { _, err := a.Decide(carol(), "req-1", true, ""); return err }},
		{"list", func(a *Authority) error { _, err := a.PendingFor(carol()); return err }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			a, rec := newTestAuthority(t)
			cfg, err := policy.Parse([]byte(requestPolicy))
			if err != nil {
				t.Fatal(err)
			}
			a.Policy, a.Requests, a.Issued = cfg, downState{}, downLog{}
			err = s.run(a)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if e.Status != http.StatusServiceUnavailable || e.Code != caapi.CodeInternal || !errors.Is(e, ErrStateUnavailable) {
				t.Errorf("refusal %d %s (cause %v)", e.Status, e.Code, e.Err)
			}
			for _, want := range []string{"shared state database", "state.dsn_env", "recovers on its own"} {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message %q does not say %q", e.Message, want)
				}
			}
			if strings.Contains(e.Message, "10.0.0.9") {
				t.Errorf("the message shows the client the database's address: %q", e.Message)
			}
			for _, ev := range rec.all() {
				if ev.Type == event.TypeCertIssued {
					t.Errorf("recorded %s while the state was down", ev.Type)
				}
			}
		})
	}
}
