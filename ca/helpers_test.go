package ca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/policy"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// testPolicy: engineering → orders:readonly (ca.max_ttl 1h); dba →
// orders:admin with max_ttl 15m (under agent_max_ttl 30m); ops →
// billing:reader with max_ttl 2h (over ca.max_ttl, so 1h).
const testPolicy = `
data_dir: /nonexistent
ca:
  max_ttl: 1h
  agent_max_ttl: 30m
targets:
  orders:
    protocol: postgres
    address: db.internal:5432
    roles:
      readonly: {}
      admin: {}
  billing:
    protocol: tcp
    address: billing.internal:6379
    roles:
      reader: {}
grants:
  - groups: [engineering]
    allow: [orders:readonly]
  - groups: [dba]
    allow: [orders:admin]
    max_ttl: 15m
  - groups: [ops]
    allow: [billing:reader]
    max_ttl: 2h
`

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func loadTestPolicy(t testing.TB) *policy.Config {
	t.Helper()
	cfg, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatalf("test policy: %v", err)
	}
	return cfg
}

type recordedEvent struct {
	Type event.Type
	Data map[string]any // the event as it would be serialised
	Raw  []byte         // the serialised event (numbers exact)
}

// fakeRecorder keeps events as JSON would see them; err makes Emit fail.
type fakeRecorder struct {
	mu     sync.Mutex
	err    error
	events []recordedEvent
}

func (f *fakeRecorder) Emit(typ event.Type, data any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	f.events = append(f.events, recordedEvent{Type: typ, Data: m, Raw: b})
	return nil
}

func (f *fakeRecorder) all() []recordedEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedEvent(nil), f.events...)
}

func (f *fakeRecorder) last(t testing.TB) recordedEvent {
	t.Helper()
	ev := f.all()
	if len(ev) == 0 {
		t.Fatal("no event recorded")
	}
	return ev[len(ev)-1]
}

func newSigner(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestAuthority(t testing.TB) (*Authority, *fakeRecorder) {
	t.Helper()
	rec := &fakeRecorder{}
	return &Authority{
		UserSigner: newSigner(t),
		HostSigner: newSigner(t),
		Policy:     loadTestPolicy(t),
		Record:     rec,
		Clock:      func() time.Time { return testNow },
	}, rec
}

func ed25519Pub(t testing.TB) gossh.PublicKey { return newSigner(t).PublicKey() }

func ecdsaPub(t testing.TB) gossh.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := gossh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var rsaKeys sync.Map // bits → gossh.PublicKey; RSA generation is slow

func rsaPub(t testing.TB, bits int) gossh.PublicKey {
	t.Helper()
	if p, ok := rsaKeys.Load(bits); ok {
		return p.(gossh.PublicKey)
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	p, err := gossh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaKeys.Store(bits, p)
	return p
}

func alice() policy.Identity {
	return policy.Identity{Subject: "u-123", Email: "alice@example.com", Issuer: "https://idp.example.com", Groups: []string{"engineering"}}
}

func errorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
