package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// The fixture's period: sessions begun on 2026-11-26 (UTC).
var (
	periodFrom = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	periodTo   = periodFrom.AddDate(0, 0, 1)
)

// fixture is a recordings directory with, in the period: alice's closed
// session (an allowed and masked statement, a denied one whose text is a
// spreadsheet formula, a refused channel, ended when its certificate is
// revoked), bob's session left open (begun after that revocation), a
// connection that failed to authenticate, and a CA stream with a refused
// certificate; and carol's session the day before.
type fixture struct {
	src  recorder.FileStore
	key  ed25519.PrivateKey
	pub  ed25519.PublicKey
	opts Options
}

// revokedAt is when serial 7 (alice's and bob's sessions) is revoked:
// during alice's session (which the bastion ends), before bob's.
var revokedAt = periodFrom.Add(9*time.Hour + 3*time.Second)

const formulaText = "=cmd|' /C calc'!A0"

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{src: recorder.FileStore{Dir: t.TempDir()}, key: key, pub: pub}
	f.session(t, periodFrom.Add(-2*time.Hour), true, auth("carol@example.com"), stmt("select 1", event.Allow, "", nil))
	f.session(t, periodFrom.Add(9*time.Hour), true, auth("alice@example.com"),
		ev(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: "orders", Roles: []string{"ro"}, Port: 5432}),
		stmt("select email from users", event.Allow, "read", []string{"email: redact (pii)"}),
		stmt(formulaText, event.Deny, "no-ddl", nil),
		ev(event.TypeChannelRefused, event.ChannelRefused{Channel: 2, Type: "direct-tcpip", Host: "billing", Port: 5432, Reason: "no grant"}),
		ev(event.TypeSessionRevoked, event.SessionRevoked{Reason: "certificate revoked", KeyFacts: event.KeyFacts{Serial: 7}}))
	f.session(t, periodFrom.Add(10*time.Hour), false, auth("bob@example.com"),
		ev(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: "billing", Port: 5432}),
		stmt("select * from cards where pan like '4%'", event.Deny, "masking.deny_probing", nil))
	f.session(t, periodFrom.Add(11*time.Hour), true,
		ev(event.TypeAuthFailure, event.AuthFailure{Method: "publickey", User: "root", Reason: "not a certificate"}))
	f.stream(t, recorder.KindCA, periodFrom.Add(time.Hour), true,
		ev(event.TypeCertRefused, event.CertRefused{Identity: &event.Identity{Subject: "mallory", Email: "mallory@example.com"},
			Reason: "no grant", Code: "grant_not_allowed", Grants: []string{"orders:admin"}}),
		ev(event.TypeCertIssued, event.CertIssued{Source: "oidc", KeyID: "alice@example.com", Serial: 7, Principals: []string{"orders:ro"},
			Identity:       event.Identity{Subject: "alice", Email: "alice@example.com", Issuer: "https://idp", Serial: 7},
			KeyFingerprint: "SHA256:alice", ValidAfter: periodFrom, ValidBefore: periodFrom.Add(8 * time.Hour)}),
		ev(event.TypeCertIssued, event.CertIssued{Source: "agent", KeyID: "alice@example.com via agent:bot", Serial: 8,
			Principals: []string{"orders:ro"}, Identity: event.Identity{Subject: "alice", Issuer: "https://idp", Agent: "bot",
				DelegatedBy: "alice@example.com", DelegatedBySerial: 7, RequestID: "req-1", Serial: 8}, KeyFingerprint: "SHA256:bot"}),
		request(event.TypeRequestFiled, "req-used", "pending", "", 0),
		request(event.TypeRequestApproved, "req-used", "approved", "bob@example.com", 30*time.Hour),
		ev(event.TypeCertIssued, event.CertIssued{Source: "oidc", KeyID: "alice@example.com", Serial: 7,
			Identity: event.Identity{Email: "alice@example.com", RequestID: "req-used", Serial: 7}}),
		request(event.TypeRequestApproved, "req-lapsed", "approved", "bob@example.com", 3*time.Hour),
		request(event.TypeRequestDenied, "req-denied", "denied", "bob@example.com", 0),
		ev(event.TypeCertRevoked, event.CertRevoked{Revocation: event.Revocation{Serial: 7, Reason: "laptop lost", By: "ops",
			RevokedAt: revokedAt}, Matched: []event.RevokedCertificate{{Serial: 7, KeyID: "alice@example.com"}}}),
		// gatehouse revoke --serial of an agent revokes its key too, at once.
		ev(event.TypeCertRevoked, event.CertRevoked{Revocation: event.Revocation{Key: "SHA256:alice", Reason: "its key", By: "ops",
			RevokedAt: revokedAt}, Matched: []event.RevokedCertificate{{Serial: 7, KeyID: "alice@example.com"}}}))
	erin := event.Auditor{Issuer: "https://idp", Subject: "erin", Email: "erin@audit.example"}
	f.stream(t, recorder.KindConsole, periodFrom.Add(12*time.Hour), true,
		ev(event.TypeConsoleLogin, event.ConsoleLogin{Auditor: erin, ClientAddr: "198.51.100.7:4000"}),
		ev(event.TypeConsoleView, event.ConsoleView{Auditor: erin, Path: "/sessions", Filters: map[string]string{"identity": "=alice"}, Rows: 3}))
	f.stream(t, recorder.KindConsole, periodTo.Add(time.Hour), true,
		ev(event.TypeConsoleLogin, event.ConsoleLogin{Auditor: erin, ClientAddr: "198.51.100.7:4000"}))
	f.opts = Options{Scope: Scope{From: periodFrom, To: periodTo}, Args: []string{"--from", "2026-11-26", "--to", "2026-11-26"},
		Lag: time.Minute, Keys: []ed25519.PublicKey{pub}, Signer: key, Store: StoreInfo{Store: "file", Dir: f.src.Dir},
		Version: "gatehouse test", Producer: "tester@host", Now: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	return f
}

// request is a step of alice's access request id, decided by by and
// expiring expires after the period's start.
func request(typ event.Type, id, state, by string, expires time.Duration) emitted {
	r := event.AccessRequest{ID: id, State: state, Requester: event.Identity{Subject: "alice", Email: "alice@example.com"},
		Grant: "orders:rw", Reason: "=HYPERLINK(\"x\") ticket 42", FiledAt: periodFrom.Add(time.Hour), DecidedBy: by}
	if by != "" {
		r.DecidedAt = periodFrom.Add(2 * time.Hour)
	}
	if expires > 0 {
		r.ExpiresAt = periodFrom.Add(expires)
	}
	return ev(typ, event.RequestStep{Request: r})
}

type emitted struct {
	typ  event.Type
	data any
}

func ev(typ event.Type, data any) emitted { return emitted{typ, data} }

func auth(name string) emitted {
	return ev(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: name, KeyFacts: event.KeyFacts{KeyID: name, Serial: 7}})
}

func stmt(text string, d event.Decision, rule string, masked []string) emitted {
	outcome := "ok"
	if d != event.Allow {
		outcome = "denied"
	}
	return ev(event.TypeDBStatement, event.DBStatement{Channel: 1, Text: text, Kinds: []string{"select"}, Decision: d, Rule: rule,
		Outcome: outcome, Rows: 1, Masked: masked})
}

// session records one session begun at start; closed says whether it
// recorded its end (and got its manifest).
func (f *fixture) session(t testing.TB, start time.Time, closed bool, events ...emitted) {
	t.Helper()
	all := append([]emitted{ev(event.TypeSessionStart, event.SessionStart{ClientAddr: "192.0.2.1:5000"})}, events...)
	if closed {
		all = append(all, ev(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected"}))
	}
	f.stream(t, recorder.KindSession, start, closed, all...)
}

func (f *fixture) stream(t testing.TB, kind string, start time.Time, closed bool, events ...emitted) {
	t.Helper()
	now := start
	r := &recorder.Recorder{Store: f.src, Signer: f.key, Clock: func() time.Time { now = now.Add(time.Second); return now }}
	s, err := r.Open(kind)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := s.Emit(e.typ, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if closed {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// build makes the bundle of opts from f's recordings.
func (f *fixture) build(t testing.TB, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := Build(&b, f.src, opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// unzip is a bundle's files by name, in order.
func unzip(t *testing.T, bundle []byte) []dataFile {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil {
		t.Fatal(err)
	}
	var files []dataFile
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, dataFile{name: zf.Name, data: data})
	}
	return files
}

func fileData(t *testing.T, files []dataFile, name string) []byte {
	t.Helper()
	for _, f := range files {
		if f.name == name {
			return f.data
		}
	}
	t.Fatalf("no %s in the bundle", name)
	return nil
}

// rezip writes files back as a bundle.
func rezip(t *testing.T, files []dataFile) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeZip(&b, files); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
