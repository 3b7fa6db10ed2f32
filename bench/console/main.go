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
	"context"
	"crypto/ed25519"
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
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/recgen"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/console"
	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
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
	key, err := recgen.LoadOrMakeKey(filepath.Join(dir, "recorder_ed25519"))
	if err != nil {
		return err
	}
	store := recorder.FileStore{Dir: filepath.Join(dir, "recordings")}
	began := time.Now()
	written, err := recgen.Generate(store.Dir, key, sessions, statements)
	if err != nil {
		return err
	}
	fmt.Printf("recordings: %d sessions, %d statements (%d written now in %s), %s on disk\n", sessions, statements, written,
		time.Since(began).Round(time.Millisecond), recgen.Size(filepath.Join(store.Dir, recorder.KindSession)))
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
	began, cpu := time.Now(), cpuTime()
	p, err := x.Sync(context.Background())
	if err != nil {
		return err
	}
	// CPU as well as wall: on a shared machine the wall time is mostly
	// the other tenants' load.
	used := cpuTime() - cpu
	fmt.Printf("index build: %d sessions in %s (%d CPUs), %s of CPU (%.0f µs a statement), %s on disk\n", p.Indexed,
		time.Since(began).Round(time.Millisecond), runtime.NumCPU(), used.Round(time.Millisecond),
		float64(used.Microseconds())/float64(max(statements, 1)), recgen.Size(filepath.Join(dir, "console-index")))
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
		"/sessions?identity=" + url.QueryEscape(recgen.Identity(sessions/2)) + "&outcome=refused",
		"/sessions?target=billing&since=" + url.QueryEscape(recgen.SessionTime(sessions/2).Format(time.RFC3339)),
		"/sessions", // no filter: every session summarised, the first 100 shown
		"/?since=" + url.QueryEscape(recgen.Start.Format(time.RFC3339)), // the overview of every session, with its reconciliation
		"/statements?text=" + url.QueryEscape(recgen.RareText),
		"/statements?text=" + url.QueryEscape(recgen.RareText) + "&decision=deny",
		"/sessions/" + ids[len(ids)/2],
		"/identities", // every identity's sessions and denials, counted by SQL
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

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
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
