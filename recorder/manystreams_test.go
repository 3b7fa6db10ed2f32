package recorder

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/journal"
)

// countedCommitter counts the syncs of a per-stream file appender: each
// stream here has one writer, whose every Emit waits for a sync of its
// own, so every SyncThrough is one fsync.
type countedCommitter struct {
	*fileAppender
	syncs *atomic.Int64
}

func (c countedCommitter) SyncThrough(end int64) error {
	c.syncs.Add(1)
	return c.fileAppender.SyncThrough(end)
}

type countedStore struct {
	FileStore
	syncs *atomic.Int64
}

func (s countedStore) Create(kind, id string) (Appender, error) {
	a, err := s.FileStore.Create(kind, id)
	if err != nil {
		return nil, err
	}
	return countedCommitter{a.(*fileAppender), s.syncs}, nil
}

// BenchmarkManyStreams is 16 sessions at once, each its own stream with
// one goroutine emitting a decision (Emit: durable before it returns) in
// a loop, as 16 agents each running statements do: every stream syncing
// its own file, against the journal's group commit. ns/op is per event
// of any stream; fsyncs/op is how many syncs each event cost.
func BenchmarkManyStreams(b *testing.B) {
	const streams = 16
	journaled := func(b *testing.B) (Store, *atomic.Int64) {
		c := &syncCounter{}
		fs, _ := journaledStore(b, b.TempDir(), journal.Config{Create: c.create})
		return fs, &c.syncs
	}
	for _, bc := range []struct {
		name  string
		store func(b *testing.B) (Store, *atomic.Int64)
		held  bool // EmitHeld and its wait (recording.overlap_reads), not Emit
	}{
		{"per-stream-fsync", func(b *testing.B) (Store, *atomic.Int64) {
			syncs := &atomic.Int64{}
			return countedStore{FileStore{Dir: b.TempDir()}, syncs}, syncs
		}, false},
		{"journal", journaled, false},
		{"journal-held", journaled, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			store, syncs := bc.store(b)
			rec := &Recorder{Store: store}
			var all []*Stream
			for range streams {
				s, err := rec.Open(KindSession)
				if err != nil {
					b.Fatal(err)
				}
				all = append(all, s)
			}
			before := syncs.Load()
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, s := range all {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := emitDecision(s, bc.held); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(syncs.Load()-before)/float64(b.N), "fsyncs/op")
			for _, s := range all {
				s.Close()
			}
		})
	}
}

// emitDecision is a statement's decision, durable on return: by Emit, or
// by EmitHeld and its wait.
func emitDecision(s *Stream, held bool) error {
	data := map[string]any{"text": "SELECT abalance FROM pgbench_accounts WHERE aid = 42", "decision": "allow"}
	if !held {
		return s.Emit("db.decision", data)
	}
	wait, err := s.EmitHeld("db.decision", data)
	if err != nil {
		return err
	}
	return wait()
}
