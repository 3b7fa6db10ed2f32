package console

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// bigRow is an export row of a few KiB, numbered.
type bigRow struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

var bigTable = table[bigRow]{noun: "rows", header: []string{"n", "text"},
	csv:  func(r bigRow) []string { return []string{fmt.Sprint(r.N), r.Text} },
	json: func(r bigRow) any { return r }}

// rowMark is how row n begins in either format.
func rowMark(format string, n int) string {
	if format == "csv" {
		return fmt.Sprintf("%d,row-%d ", n, n)
	}
	return fmt.Sprintf(`{"n":%d,"text":"row-%d `, n, n)
}

// serveExport serves export of src at /export over real HTTP, as the
// console's handlers call it.
func serveExport(t *testing.T, f *fixture, src rowSource[bigRow]) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := query{path: "/export", values: url.Values{}, format: r.URL.Query().Get("format")}
		export(f.console, w, q, event.Auditor{Subject: "auditor"}, bigTable, src)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestExportStreamsRows: an export writes each row to the client as its
// source reads it: while the source is still reading, the client has
// already received the rows read a while before. An export that held its
// rows and wrote them at the end (as exports did) never lets the client
// see a row before the last is read, and fails here.
func TestExportStreamsRows(t *testing.T) {
	const rows, lead = 1000, 2 * flushEvery // the client must see row n-lead when row n is read
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			f := newFixture(t, 0)
			seen := make(chan int, rows) // the rows the client has read, in order
			pass := 0
			src := func(each func(bigRow) error) error {
				pass++
				for n := range rows {
					if pass == 2 && n >= lead {
						if err := waitFor(seen, n-lead); err != nil {
							return err
						}
					}
					if err := each(bigRow{N: n, Text: fmt.Sprintf("row-%d ", n) + strings.Repeat("x", 2000)}); err != nil {
						return err
					}
				}
				return nil
			}
			srv := serveExport(t, f, src)
			resp, err := http.Get(srv.URL + "?format=" + format)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := readRows(t, resp.Body, format, seen)
			if !strings.Contains(body, rowMark(format, rows-1)) || strings.Contains(body, "export incomplete") {
				t.Fatalf("the export is not whole: ends %q", body[max(0, len(body)-200):])
			}
			exports := f.activity.of(event.TypeConsoleExport)
			if len(exports) != 1 || exports[0].(event.ConsoleExport).Rows != rows {
				t.Errorf("recorded %+v, want one export of %d rows", exports, rows)
			}
		})
	}
}

// waitFor waits until the client has read row n.
func waitFor(seen chan int, n int) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-seen:
			if got >= n {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("the client had not received row %d after 10s: the export is not streamed", n)
		}
	}
}

// readRows reads an export's body line by line, telling seen each row's
// number as it arrives.
func readRows(t *testing.T, r io.Reader, format string, seen chan int) string {
	var b strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 0; sc.Scan(); {
		b.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), rowMark(format, n)) {
			seen <- n
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Logf("reading the export: %v", err)
	}
	return b.String()
}

// TestExportEndsMarkedWhenItFails: a failure after the first byte ends the
// export with a last line "# export incomplete: …" and an aborted
// connection (the client's read fails, never a clean end), in both
// formats, whether the source fails or gives other rows than it counted;
// a failure before the first byte answers 502 and records no export.
func TestExportEndsMarkedWhenItFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(pass, n int) error // the source's error reading row n
		more bool                    // the second pass gives a row more
	}{
		{name: "source fails", fail: func(pass, n int) error {
			if pass == 2 && n == 300 {
				return errors.New("disk\nread error")
			}
			return nil
		}},
		{name: "more rows than counted", more: true},
	} {
		for _, format := range []string{"csv", "jsonl"} {
			t.Run(tc.name+" "+format, func(t *testing.T) {
				f := newFixture(t, 0)
				pass := 0
				src := func(each func(bigRow) error) error {
					pass++
					n := 500
					if tc.more && pass == 2 {
						n++
					}
					for i := range n {
						if tc.fail != nil {
							if err := tc.fail(pass, i); err != nil {
								return err
							}
						}
						if err := each(bigRow{N: i, Text: fmt.Sprintf("row-%d ", i)}); err != nil {
							return err
						}
					}
					return nil
				}
				resp, err := http.Get(serveExport(t, f, src).URL + "?format=" + format)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err == nil {
					t.Error("the body of a failed export ended cleanly")
				}
				lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
				if last := lines[len(lines)-1]; resp.StatusCode != http.StatusOK || !strings.HasPrefix(last, "# export incomplete: ") || strings.Contains(last, "\r") {
					t.Errorf("%d; last line %q", resp.StatusCode, last)
				}
				if tc.fail != nil && !strings.Contains(string(body), rowMark(format, 299)) {
					t.Error("the rows written before the failure are not kept")
				}
			})
		}
	}
	f := newFixture(t, 0)
	src := func(func(bigRow) error) error { return errors.New("cannot read") }
	resp, err := http.Get(serveExport(t, f, src).URL + "?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || len(f.activity.of(event.TypeConsoleExport)) != 0 {
		t.Errorf("a failure before the first byte: %d, %d exports recorded", resp.StatusCode, len(f.activity.of(event.TypeConsoleExport)))
	}
}

// TestIndexedExportHoldsNoList: exporting 100,000 indexed sessions keeps
// the console's heap within a bound far below what holding them takes (a
// list of them, their rows and their cells: over 100 MB), sampled while
// the export runs with the collector kept tight.
func TestIndexedExportHoldsNoList(t *testing.T) {
	const sessions = exportedSessions
	f := newFixture(t, 0)
	x, err := consoleindex.Open(t.TempDir(), f.store, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	x.MaxAge = time.Hour // the store holds none of them: no sync may mark them gone
	db, err := sql.Open("sqlite", x.Path())
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO sessions (id, version, start, end_time, identity, targets, end_reason, channels, statements)
		SELECT printf('20261201T000000Z-%08d', i), '', 1764547200000000000 + i * 1000000000, 1764547260000000000 + i * 1000000000,
			'user' || (i % 500) || '@example.com', '["orders","billing"]', 'client disconnected after a long while', 2, i % 50 FROM n`, sessions-1)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	f.console.cfg.Index = x
	c := f.loggedIn(auditorClaims)
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak := make(chan uint64)
	stop := make(chan struct{})
	go func() {
		var most uint64
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				peak <- most
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				most = max(most, m.HeapAlloc)
			}
		}
	}()
	resp, err := c.Get(f.srv.URL + "/sessions?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines++
	}
	resp.Body.Close()
	close(stop)
	growth := int64(<-peak) - int64(base.HeapAlloc)
	if sc.Err() != nil || lines != sessions+2 {
		t.Fatalf("%d lines (%v), want %d", lines, sc.Err(), sessions+2)
	}
	t.Logf("heap grew by at most %d KiB exporting %d sessions", growth>>10, sessions)
	if growth > exportGrowthBound {
		t.Errorf("the heap grew by %d MiB exporting %d sessions: the export holds them", growth>>20, sessions)
	}
}
