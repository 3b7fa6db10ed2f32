package pgstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca"
)

// deadStore is a store whose database refuses connections: a port that
// was listened on and closed. Connect does not dial, so it opens.
func deadStore(t *testing.T) (*Store, *failures) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	s, err := Connect(context.Background(), fmt.Sprintf("postgres://gatehouse@127.0.0.1:%d/state?sslmode=disable", addr.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.Timeout = 2 * time.Second
	f := &failures{}
	s.OnError = f.add
	return s, f
}

// failures is an OnError that keeps what it was told.
type failures struct {
	mu   sync.Mutex
	ops  []string
	errs []error
}

func (f *failures) add(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op)
	f.errs = append(f.errs, err)
}

func (f *failures) seen() ([]string, []error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ops...), append([]error(nil), f.errs...)
}

// TestOnErrorCountsEveryFailedOperation: each operation of a store whose
// database is unreachable fails with ca.ErrStateUnavailable and tells
// OnError once, under its op.
func TestOnErrorCountsEveryFailedOperation(t *testing.T) {
	for _, tt := range []struct {
		op  string
		run func(s *Store) error
	}{
		{"ping", func(s *Store) error { return s.Ping(context.Background()) }},
		{"requests", func(s *Store) error { _, err := s.Requests().All(); return err }},
		{"requests", func(s *Store) error {
			return s.Requests().Decide(ca.AccessRequest{ID: "r1", State: ca.RequestApproved}, nil)
		}},
		{"issued", func(s *Store) error { _, err := s.Issued().All(); return err }},
		{"issued", func(s *Store) error { return s.Issued().Add(ca.IssuedEvent{Serial: 7}) }},
		{"revocations", func(s *Store) error { _, err := s.Revocations().Load(context.Background()); return err }},
		{"migrate", func(s *Store) error { _, err := s.Migrate(context.Background()); return err }},
	} {
		t.Run(tt.op, func(t *testing.T) {
			s, f := deadStore(t)
			err := tt.run(s)
			if !errors.Is(err, ca.ErrStateUnavailable) {
				t.Fatalf("error %v, want one wrapping ca.ErrStateUnavailable", err)
			}
			ops, errs := f.seen()
			if len(ops) != 1 || ops[0] != tt.op || errs[0] != err {
				t.Fatalf("OnError saw %v %v, want [%s] with the error returned", ops, errs, tt.op)
			}
		})
	}
}

// TestOnErrorIgnoresAnswers: a request decided already is the
// database's answer, not a failure of the store.
func TestOnErrorIgnoresAnswers(t *testing.T) {
	s, f := deadStore(t)
	for _, err := range []error{nil, fmt.Errorf("pgstate: decide r1: %w", ca.ErrDecided)} {
		if got := s.failed("requests", err); got != err {
			t.Fatalf("failed returned %v, want %v", got, err)
		}
	}
	if ops, _ := f.seen(); len(ops) != 0 {
		t.Fatalf("OnError saw %v, want nothing", ops)
	}
}

// TestWatcherPollsWhileTheDatabaseIsDown: the watcher of an unreachable
// database is not listening and reports its failures as "watch".
func TestWatcherPollsWhileTheDatabaseIsDown(t *testing.T) {
	s, f := deadStore(t)
	revs := s.Revocations()
	revs.Poll = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		revs.Watch(ctx, ca.NewRevocationList(), slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !hasOp(f, "watch") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	listening := revs.Listening()
	cancel()
	<-done
	if !hasOp(f, "watch") {
		t.Fatal("OnError never saw a failed watch")
	}
	if listening {
		t.Fatal("Listening() is true while the database refuses connections")
	}
}

func hasOp(f *failures, op string) bool {
	ops, _ := f.seen()
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}
