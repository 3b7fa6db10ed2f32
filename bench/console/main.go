// Command console is `make bench-console`: the auditor console's index at
// volume. It writes signed session recordings with the recorder's own
// writer (chained, checkpointed, closed with a signed manifest, so that
// they verify) straight into a directory store, builds the console's
// index from them, and times what an auditor waits for, through the
// console's real HTTP handler: the sessions list (first page, filtered),
// a statement text search, and one session page.
//
//	go run ./bench/console -sessions 100000 -statements 10000000 -dir /tmp/console-bench
//
// The recordings are kept in -dir (a second run with the same figures
// reuses them; -keep=false removes them at the end). Not part of CI.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/console"
	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func main() {
	sessions := flag.Int("sessions", 10000, "session recordings to write")
	statements := flag.Int("statements", 1000000, "statements across them")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "gatehouse-console-bench"), "where the recordings and the index go")
	keep := flag.Bool("keep", true, "keep the recordings for another run")
	runs := flag.Int("runs", 5, "times each request is timed")
	rebuild := flag.Bool("rebuild", true, "build the index anew; false: bring the one in -dir up to date")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*dir, *sessions, *statements, *runs, *rebuild); err != nil {
		log.Print(err)
		os.Exit(1)
	}
	if !*keep {
		os.RemoveAll(*dir)
	}
}

func run(dir string, sessions, statements, runs int, rebuild bool) error {
	key, err := loadOrMakeKey(filepath.Join(dir, "recorder_ed25519"))
	if err != nil {
		return err
	}
	store := recorder.FileStore{Dir: filepath.Join(dir, "recordings")}
	began := time.Now()
	written, err := generate(store.Dir, key, sessions, statements)
	if err != nil {
		return err
	}
	fmt.Printf("recordings: %d sessions, %d statements (%d written now in %s), %s on disk\n", sessions, statements, written,
		time.Since(began).Round(time.Millisecond), size(filepath.Join(store.Dir, recorder.KindSession)))
	pub := key.Public().(ed25519.PublicKey)
	x, err := consoleindex.Open(filepath.Join(dir, "console-index"), store, store.Dir, pub)
	if err != nil {
		return err
	}
	defer x.Close()
	if rebuild {
		if err := x.Rebuild(); err != nil {
			return err
		}
	}
	began = time.Now()
	p, err := x.Sync(context.Background())
	if err != nil {
		return err
	}
	fmt.Printf("index build: %d sessions in %s (%d CPUs), %s on disk\n", p.Indexed, time.Since(began).Round(time.Millisecond),
		runtime.NumCPU(), size(filepath.Join(dir, "console-index")))
	began = time.Now()
	if _, err := x.Sync(context.Background()); err != nil {
		return err
	}
	fmt.Printf("full sync with nothing new (every console.index_interval): %s\n", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	if err := x.Current(context.Background()); err != nil {
		return err
	}
	fmt.Printf("a list's sync, names listed again (after a full sync): %s\n", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	if err := x.Current(context.Background()); err != nil {
		return err
	}
	fmt.Printf("a list's sync, the store's stamp unchanged: %s\n", time.Since(began).Round(time.Microsecond))
	return timeRequests(dir, store, x, pub, sessions, runs)
}

// timeRequests serves the console over the index and times its answers.
func timeRequests(dir string, store recorder.FileStore, x *consoleindex.Index, pub ed25519.PublicKey, sessions, runs int) error {
	c, client, srv, err := serve(dir, store, x, pub)
	if err != nil {
		return err
	}
	defer srv.Close()
	ids, err := store.List(recorder.KindSession)
	if err != nil {
		return err
	}
	for _, path := range []string{
		"/sessions?identity=" + url.QueryEscape(identity(sessions/2)) + "&outcome=refused",
		"/sessions?target=billing&since=" + url.QueryEscape(sessionTime(sessions/2).Format(time.RFC3339)),
		"/sessions", // no filter: every session summarised, the first 100 shown
		"/?since=" + url.QueryEscape(start.Format(time.RFC3339)), // the overview of every session, with its reconciliation
		"/statements?text=" + url.QueryEscape(rareText),
		"/statements?text=" + url.QueryEscape(rareText) + "&decision=deny",
		"/sessions/" + ids[len(ids)/2],
	} {
		var times []time.Duration
		var body string
		for range runs {
			began := time.Now()
			resp, err := client.Get(srv.URL + path)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			times = append(times, time.Since(began))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
			}
			body = string(b)
		}
		slices.Sort(times)
		fmt.Printf("%-70s median %7s  max %7s  (%s)\n", path, times[len(times)/2].Round(time.Millisecond),
			times[len(times)-1].Round(time.Millisecond), countLine(body))
	}
	_ = c
	return nil
}

// serve is the console over store and x, and a browser logged in with a
// single-use link (whose session sees every session from 2000 on).
func serve(dir string, store recorder.FileStore, x *consoleindex.Index, pub ed25519.PublicKey) (*console.Console, *http.Client, *httptest.Server, error) {
	links := &console.LinkStore{Dir: filepath.Join(dir, "console-links")}
	activity, err := (&recorder.Recorder{Store: recorder.FileStore{Dir: filepath.Join(dir, "activity")}}).Open(recorder.KindConsole)
	if err != nil {
		return nil, nil, nil, err
	}
	srv := httptest.NewServer(nil)
	c, err := console.New(console.Config{Sessions: store, Index: x, Keys: []ed25519.PublicKey{pub}, Links: links,
		AuditorGroups: []string{"auditors"}, Activity: activity, Origin: srv.URL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, nil, err
	}
	srv.Config.Handler = c
	token, err := links.Mint(console.Link{Identity: "bench", Expires: time.Now().Add(time.Hour), From: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		func(string) error { return nil })
	if err != nil {
		return nil, nil, nil, err
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(srv.URL + "/link/" + token)
	if err != nil {
		return nil, nil, nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, nil, fmt.Errorf("link: %d", resp.StatusCode)
	}
	return c, client, srv, nil
}

// countLine is the "N sessions; showing" line of a list, or the
// verification status of a session page.
func countLine(body string) string {
	for _, mark := range []string{`<p class="count">`, "Verification"} {
		if i := strings.Index(body, mark); i >= 0 {
			line, _, _ := strings.Cut(body[i+len(mark):], "\n")
			return strings.TrimSpace(line)
		}
	}
	return fmt.Sprintf("%d bytes", len(body))
}

// The fixture: sessions one minute apart from a fixed start, each a
// human's or an agent's, on one of the targets, with statements of a
// few shapes; one in rareEvery carries rareText.
var (
	start     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	targets   = []string{"orders", "billing", "users", "events", "audit"}
	rareText  = "pg_sleep"
	rareEvery = 10000
)

func sessionTime(i int) time.Time { return start.Add(time.Duration(i) * time.Minute) }

func identity(i int) string {
	human := fmt.Sprintf("user%03d@example.com", i%500)
	if i%3 == 0 {
		return human + " via agent:agent" + fmt.Sprint(i%7)
	}
	return human
}

// generate writes the sessions not yet in dir, on every CPU, and returns
// how many it wrote.
func generate(dir string, key ed25519.PrivateKey, sessions, statements int) (int, error) {
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
				if err := writeSession(dir, key, i, n); err != nil {
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

// writeSession records session i with n statements, as the bastion
// would: signed, chained, checkpointed, closed with a manifest.
func writeSession(dir string, key ed25519.PrivateKey, i, n int) error {
	now := sessionTime(i)
	rec := &recorder.Recorder{Store: dirStore(dir), Signer: key, Clock: func() time.Time { now = now.Add(3 * time.Millisecond); return now }}
	st, err := rec.Open(recorder.KindSession)
	if err != nil {
		return err
	}
	id := identity(i)
	agent := ""
	if _, a, ok := strings.Cut(id, " via agent:"); ok {
		agent = a
	}
	target := targets[i%len(targets)]
	var errs []error
	emit := func(typ event.Type, data any) { errs = append(errs, st.Emit(typ, data)) }
	emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "10.0.0.1:40000", ServerAddr: "127.0.0.1:2222"})
	emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: id, Principals: []string{target + ":readonly"},
		KeyFacts: event.KeyFacts{KeyID: id, Serial: uint64(i + 1), KeyFingerprint: "SHA256:bench"},
		Identity: event.Identity{Subject: id, Issuer: "https://idp.example.com", Agent: agent}})
	emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: target})
	emit(event.TypeDBSessionStart, event.DBSessionStart{Channel: 1, Target: target, Role: "readonly", Database: target})
	for j := range n {
		emit(event.TypeDBStatement, statementOf(i*n+j))
	}
	emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
	return errors.Join(errors.Join(errs...), st.Close())
}

// statementOf is the k-th statement overall: mostly reads, some masked,
// some denied, one in rareEvery with rareText.
func statementOf(k int) event.DBStatement {
	s := event.DBStatement{Channel: 1, Kinds: []string{"select"}, Decision: event.Allow, Outcome: "ok", Rows: int64(k % 50), DurationMS: 0.4,
		Text: fmt.Sprintf("SELECT id, email, total FROM orders WHERE customer_id = %d ORDER BY created_at DESC LIMIT 20", k)}
	switch {
	case k%rareEvery == 0:
		s.Text = fmt.Sprintf("SELECT %s(%d)", rareText, k%5)
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

// loadOrMakeKey is the recorder key of an earlier run, or a new one.
func loadOrMakeKey(path string) (ed25519.PrivateKey, error) {
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

// size is the bytes of the files under dir, for reading.
func size(dir string) string {
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
