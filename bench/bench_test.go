package main

// In-process benchmarks of the per-statement work that `make bench`'s
// profile points at, for `go test -bench . -cpuprofile` (docs/benchmarks.md):
//
//	go test -run '^$' -bench . -benchtime 2s ./bench/
//
// They are benchmarks only: `make unit` compiles them and runs nothing.

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"golang.org/x/sys/unix"

	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// pgbenchSelect is what pgbench -S sends through the simple protocol: the
// literal changes every time, so gatehouse's text-keyed cache misses.
func pgbenchSelect(r *mrand.Rand) string {
	return fmt.Sprintf("SELECT abalance FROM pgbench_accounts WHERE aid = %d;", 1+r.IntN(1_000_000))
}

// BenchmarkStatementSQL: what gatehouse spends judging one pgbench -S
// statement (classify), and the parser's two entry points on their own.
func BenchmarkStatementSQL(b *testing.B) {
	b.Run("classify-uncached", func(b *testing.B) {
		r := mrand.New(mrand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := sqlclass.Classify(pgbenchSelect(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Each text is new, its shape is not: what the bastion does for
	// pgbench -S after the first statement.
	b.Run("classify-shape-hit", func(b *testing.B) {
		c := sqlclass.NewClassifier(0)
		r := mrand.New(mrand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := c.Classify(pgbenchSelect(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pg_query.Parse", func(b *testing.B) {
		r := mrand.New(mrand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := pg_query.Parse(pgbenchSelect(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pg_query.Scan", func(b *testing.B) {
		r := mrand.New(mrand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := pg_query.Scan(pgbenchSelect(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// statementEvent is shaped like bastion's db.statement record.
type statementEvent struct {
	Channel    int      `json:"channel"`
	Text       string   `json:"text"`
	Params     int      `json:"params"`
	Kinds      []string `json:"kinds,omitempty"`
	Relations  []string `json:"relations,omitempty"`
	Decision   string   `json:"decision"`
	Rule       string   `json:"rule,omitempty"`
	Outcome    string   `json:"outcome"`
	Rows       int64    `json:"rows"`
	Tag        string   `json:"tag,omitempty"`
	Bytes      int64    `json:"bytes"`
	DurationMS float64  `json:"duration_ms"`
}

// BenchmarkRecordStatement: one db.statement through recorder.Stream.Emit
// into the file store, on the temporary directory's disk and on tmpfs.
func BenchmarkRecordStatement(b *testing.B) {
	dirs := map[string]string{"disk": b.TempDir()}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		shm, err := os.MkdirTemp("/dev/shm", "gatehouse-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(shm) })
		dirs["tmpfs"] = shm
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"disk", "tmpfs"} {
		dir, ok := dirs[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			rec := &recorder.Recorder{Store: recorder.FileStore{Dir: dir}, Signer: key}
			s, err := rec.Open(recorder.KindSession)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := mrand.New(mrand.NewPCG(1, 2))
			for b.Loop() {
				ev := statementEvent{Channel: 1, Text: pgbenchSelect(r), Kinds: []string{"select"}, Relations: []string{"pgbench_accounts"},
					Decision: "allow", Rule: "allow:select", Outcome: "ok", Rows: 1, Tag: "SELECT 1", Bytes: 40, DurationMS: 0.2}
				if err := s.Emit("db.statement", ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDurableAppend weighs the ways to make appended lines durable;
// ns/op is per line, all writers together. The line is about a
// db.statement's size.
//
//   - streams=N/fsync-each: N streams of recorder.FileStore appended at
//     once, each Append with its own fsync (gatehouse today, with N SSH
//     connections).
//   - streams=N/syncfs: the same lines, each followed by one syncfs(2) of
//     the file system: the only single call that makes several files'
//     lines durable at once, i.e. group commit across streams.
//   - one-stream/writers=4/serial: four writers on one file, each holding
//     the lock through write and fsync (gatehouse today: every channel of
//     one SSH connection shares one stream, whose Emit holds its mutex
//     through Append).
//   - one-stream/writers=4/group: four writers on one file that write in
//     order under the lock but wait for durability outside it, one fsync
//     covering every line written before it started (group commit within
//     a stream; it needs recorder.Stream to stop holding its mutex
//     through the fsync).
func BenchmarkDurableAppend(b *testing.B) {
	line := make([]byte, 600)
	for i := range line {
		line[i] = 'x'
	}
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("streams=%d/fsync-each", n), func(b *testing.B) {
			store := recorder.FileStore{Dir: b.TempDir()}
			apps := make([]recorder.Appender, n)
			for i := range apps {
				a, err := store.Create(recorder.KindSession, fmt.Sprintf("s%d", i))
				if err != nil {
					b.Fatal(err)
				}
				apps[i] = a
			}
			parallel(b, n, func(w int) error { return apps[w].Append(line) })
			for _, a := range apps {
				a.Finish(nil)
			}
		})
		b.Run(fmt.Sprintf("streams=%d/syncfs", n), func(b *testing.B) {
			dir := b.TempDir()
			files := make([]*os.File, n)
			for i := range files {
				f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("s%d", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				files[i] = f
			}
			parallel(b, n, func(w int) error {
				if _, err := files[w].Write(append(line, '\n')); err != nil {
					return err
				}
				return unix.Syncfs(int(files[w].Fd()))
			})
		})
	}
	for _, mode := range []string{"serial", "group"} {
		b.Run("one-stream/writers=4/"+mode, func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "s"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			g := &groupFile{f: f}
			appendLine := g.appendSerial
			if mode == "group" {
				appendLine = g.appendGroup
			}
			parallel(b, 4, func(int) error { return appendLine(line) })
		})
	}
}

// parallel runs b.N calls of f spread over n goroutines (f gets its
// goroutine's number).
func parallel(b *testing.B, n int, f func(w int) error) {
	b.Helper()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < n; w++ {
		count := b.N / n
		if w < b.N%n {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < count; i++ {
				if err := f(w); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// groupFile is one stream file written by several goroutines.
type groupFile struct {
	f       *os.File
	mu      sync.Mutex // orders writes
	written int64      // bytes written so far; under mu
	syncMu  sync.Mutex // one fsync at a time
	synced  int64      // bytes known durable; under syncMu
}

func (g *groupFile) appendSerial(line []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return g.f.Sync()
}

func (g *groupFile) appendGroup(line []byte) error {
	g.mu.Lock()
	if _, err := g.f.Write(append(line, '\n')); err != nil {
		g.mu.Unlock()
		return err
	}
	g.written += int64(len(line) + 1)
	mine := g.written
	g.mu.Unlock()

	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	if g.synced >= mine {
		return nil // an fsync that began after our write covered it
	}
	g.mu.Lock()
	upTo := g.written
	g.mu.Unlock()
	if err := g.f.Sync(); err != nil {
		return err
	}
	g.synced = upTo
	return nil
}
