// Package recgen writes signed session recordings for benchmarks: with
// the recorder's own writer (chained, checkpointed, closed with a signed
// manifest, so that they verify), straight into a directory laid out as
// recorder.FileStore reads it. The console's and the evidence bundle's
// benchmarks read the same fixture.
package recgen

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// The fixture: sessions one minute apart from a fixed start, each a
// human's or an agent's, on one of the targets, with statements of a
// few shapes; one in RareEvery carries RareText.
var (
	Start     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	Targets   = []string{"orders", "billing", "users", "events", "audit"}
	RareText  = "pg_sleep"
	RareEvery = 10000
)

func SessionTime(i int) time.Time { return Start.Add(time.Duration(i) * time.Minute) }

func Identity(i int) string {
	human := fmt.Sprintf("user%03d@example.com", i%500)
	if i%3 == 0 {
		return human + " via agent:agent" + fmt.Sprint(i%7)
	}
	return human
}

// Generate writes the sessions not yet in dir, on every CPU, and returns
// how many it wrote.
func Generate(dir string, key ed25519.PrivateKey, sessions, statements int) (int, error) {
	return generate(dir, key, sessions, statements, SessionTime)
}

// generate writes the sessions not yet in dir, session i begun at at(i).
func generate(dir string, key ed25519.PrivateKey, sessions, statements int, at func(int) time.Time) (int, error) {
	existing, _ := recorder.FileStore{Dir: dir}.List(recorder.KindSession)
	if len(existing) == sessions {
		return 0, nil
	}
	if len(existing) > 0 {
		return 0, fmt.Errorf("%s holds %d sessions, not %d: remove it or pick another -dir", dir, len(existing), sessions)
	}
	var next, written atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	for range runtime.NumCPU() {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= sessions {
					return
				}
				n := statements/sessions + boolInt(i < statements%sessions)
				if err := writeSession(dir, key, i, n, at(i)); err != nil {
					errs <- err
					return
				}
				written.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	return int(written.Load()), <-errs
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// WriteSession records session i with n statements, as the bastion
// would: signed, chained, checkpointed, closed with a manifest.
func WriteSession(dir string, key ed25519.PrivateKey, i, n int) error {
	return writeSession(dir, key, i, n, SessionTime(i))
}

func writeSession(dir string, key ed25519.PrivateKey, i, n int, now time.Time) error {
	rec := &recorder.Recorder{Store: dirStore(dir), Signer: key, Clock: func() time.Time { now = now.Add(3 * time.Millisecond); return now }}
	st, err := rec.Open(recorder.KindSession)
	if err != nil {
		return err
	}
	id := Identity(i)
	agent := ""
	if _, a, ok := strings.Cut(id, " via agent:"); ok {
		agent = a
	}
	target := Targets[i%len(Targets)]
	var errs []error
	emit := func(typ event.Type, data any) { errs = append(errs, st.Emit(typ, data)) }
	emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "10.0.0.1:40000", ServerAddr: "127.0.0.1:2222"})
	emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: id, Principals: []string{target + ":readonly"},
		KeyFacts: event.KeyFacts{KeyID: id, Serial: uint64(i + 1), KeyFingerprint: "SHA256:bench"},
		Identity: event.Identity{Subject: id, Issuer: "https://idp.example.com", Agent: agent}})
	emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: target})
	emit(event.TypeDBSessionStart, event.DBSessionStart{Channel: 1, Target: target, Role: "readonly", Database: target})
	for j := range n {
		emit(event.TypeDBStatement, StatementOf(i*n+j))
	}
	emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
	return errors.Join(errors.Join(errs...), st.Close())
}

// StatementOf is the k-th statement overall: mostly reads, some masked,
// some denied, one in RareEvery with RareText.
func StatementOf(k int) event.DBStatement {
	s := event.DBStatement{Channel: 1, Kinds: []string{"select"}, Decision: event.Allow, Outcome: "ok", Rows: int64(k % 50), DurationMS: 0.4,
		Text: fmt.Sprintf("SELECT id, email, total FROM orders WHERE customer_id = %d ORDER BY created_at DESC LIMIT 20", k)}
	switch {
	case k%RareEvery == 0:
		s.Text = fmt.Sprintf("SELECT %s(%d)", RareText, k%5)
		s.Decision, s.Rule, s.Outcome, s.Rows = event.Deny, "deny_functions", "denied", 0
	case k%10 == 0:
		s.Masked = []string{"email: email (public.customers.email)"}
	case k%97 == 0:
		s.Text, s.Kinds = fmt.Sprintf("DELETE FROM orders WHERE id = %d", k), []string{"delete"}
		s.Decision, s.Rule, s.Outcome, s.Rows = event.Deny, "statements.readonly", "denied", 0
	}
	return s
}

// dirStore writes each stream into DIR/KIND/ID.jsonl as recorder.
// FileStore lays it out, whole when it is finished and without fsync: a
// benchmark's recordings need not survive a crash.
type dirStore string

func (d dirStore) Create(kind, id string) (recorder.Appender, error) {
	if err := os.MkdirAll(filepath.Join(string(d), kind), 0o700); err != nil {
		return nil, err
	}
	return &bufferedStream{path: filepath.Join(string(d), kind, id)}, nil
}

type bufferedStream struct {
	path  string
	lines bytes.Buffer
}

func (b *bufferedStream) Append(line []byte) error {
	b.lines.Write(line)
	return b.lines.WriteByte('\n')
}

func (b *bufferedStream) Finish(manifest []byte) error {
	if err := os.WriteFile(b.path+".jsonl", b.lines.Bytes(), 0o600); err != nil {
		return err
	}
	return os.WriteFile(b.path+".manifest.json", manifest, 0o600)
}

// LoadOrMakeKey is the recorder key of an earlier run, or a new one.
func LoadOrMakeKey(path string) (ed25519.PrivateKey, error) {
	if seed, err := os.ReadFile(path); err == nil && len(seed) == ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(seed), nil
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, key.Seed(), 0o600)
}

// Size is the bytes of the files under dir, for reading.
func Size(dir string) string {
	var n int64
	filepath.WalkDir(dir, func(_ string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
