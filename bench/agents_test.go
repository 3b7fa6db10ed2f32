package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCounts(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"1,4,16,64", []int{1, 4, 16, 64}, false},
		{" 1, 4 ,", []int{1, 4}, false},
		{"", nil, false},
		{"0", nil, true},
		{"-4", nil, true},
		{"four", nil, true},
	} {
		got, err := parseCounts(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("parseCounts(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"p50 of 1..100", hundred, 0.50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 0.99, 99 * time.Millisecond},
		{"p100 of 1..100", hundred, 1, 100 * time.Millisecond},
		{"p99 of one", hundred[:1], 0.99, time.Millisecond},
		{"p50 of two", hundred[:2], 0.50, time.Millisecond},
		{"none", nil, 0.5, 0},
	} {
		if got := percentile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("%s: percentile = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParsePerfCounts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"both", "# started on Sat Dec  5 08:50:00 2026\n\n7,,syscalls:sys_enter_fsync,40576469,100.00,,\n3,,syscalls:sys_enter_fdatasync,40576469,100.00,,\n", 10, false},
		{"not the others", "7,,syscalls:sys_enter_fsync,1,100.00,,\n3,,syscalls:sys_enter_fdatasync,1,100.00,,\n5000,,raw_syscalls:sys_enter,1,100.00,,\n800,,context-switches,1,100.00,8.1,K/sec\n", 10, false},
		{"zero is a count", "0,,syscalls:sys_enter_fsync,1,100.00,,\n0,,syscalls:sys_enter_fdatasync,1,100.00,,\n", 0, false},
		{"not counted", "<not counted>,,syscalls:sys_enter_fsync,0,0.00,,\n", -1, true},
		{"not supported", "<not supported>,,syscalls:sys_enter_fsync,0,0.00,,\n", -1, true},
		{"nothing", "# started on Sat Dec  5 08:50:00 2026\n", -1, true},
	} {
		got, err := parsePerfCounts(tc.in, func(ev string) bool { return slices.Contains(fsyncEvents, ev) })
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: parsePerfCounts = %d, %v; want %d, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestCountsOf: perf stat's output of the three kinds of events it
// counts for a run, as perf 6 prints it (the software event with its
// rate), split into fsyncs, system calls and context switches; one that
// perf could not count is an error, not a zero.
func TestCountsOf(t *testing.T) {
	out := "# started on Sat Dec  5 19:15:31 2026\n\n" +
		"4,,syscalls:sys_enter_fsync,6423106966,100.00,0.623,/sec\n" +
		"6951,,syscalls:sys_enter_fdatasync,6423106966,100.00,1.082,K/sec\n" +
		"84342,,context-switches,6423106966,100.00,13.131,K/sec\n" +
		"352758,,raw_syscalls:sys_enter,6423106966,100.00,54.920,K/sec\n"
	got, err := countsOf(out)
	if want := (perfCounts{fsyncs: 6955, syscalls: 352758, switches: 84342}); err != nil || got != want {
		t.Fatalf("countsOf = %+v, %v; want %+v", got, err, want)
	}
	if got, err := countsOf(strings.Replace(out, "84342,,context", "<not counted>,,context", 1)); err == nil {
		t.Fatalf("countsOf with the switches not counted = %+v, want an error", got)
	}
}

func TestCountGoroutines(t *testing.T) {
	dump := func(statuses ...int) string {
		var b strings.Builder
		b.WriteString("SCHED 5004ms: gomaxprocs=2 idleprocs=2 threads=7\n  P0: status=0 schedtick=1\n  M0: p=nil curg=nil\n")
		for i, s := range statuses {
			fmt.Fprintf(&b, "  G%d: status=%d(chan receive) m=nil lockedm=nil\n", i+1, s)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name   string
		log    string
		want   int
		wantOK bool
	}{
		{"dead and idle are not counted", dump(4, 4, 6, 0, 2, 3) + dump(4), 4, true},
		{"a goroutine being scanned counts", dump(0x1004, 6) + dump(), 1, true},
		{"log lines between dumps", "time=x level=INFO msg=a\n" + dump(4, 4) + "time=y level=INFO msg=b\n" + dump(4), 2, true},
		{"the last dump may be incomplete", dump(4, 4), 0, false},
		{"no dump", "time=x level=INFO msg=a\n", 0, false},
	} {
		got, ok := countGoroutines(tc.log)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: countGoroutines = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

// TestGatehouseConfig: every value lands where it belongs (the template
// mixes implicit and indexed verbs).
func TestGatehouseConfig(t *testing.T) {
	cfg := fmt.Sprintf(gatehouseConfig, "/data", "127.0.0.1:1", "127.0.0.1:2", 5432, "app_owner", "/pw", 5433, "recording:\n  store: file\n", 1234)
	if strings.Contains(cfg, "%!") {
		t.Fatalf("a verb without its value:\n%s", cfg)
	}
	for _, want := range []string{
		"data_dir: /data\n", "listen: 127.0.0.1:1\n", "listen: 127.0.0.1:2\n", "address: 127.0.0.1:5432\n",
		"max_sessions: 1234\n", "max_sessions_per_certificate: 1234\n",
		"{user: app_owner, password_file: /pw}", "address: 127.0.0.1:5433\n", "last4\nrecording:\n  store: file\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestSessionLimits(t *testing.T) {
	for _, tc := range []struct {
		name           string
		o              options
		limit, maxConn int
	}{
		{"the pgbench rows alone", options{clients: 4}, 1000, 24},
		{"many agents", options{clients: 4, agents: []int{1, 4, 16, 64}}, 1000, 84},
		{"idle scale", options{clients: 4, agents: []int{1, 4}, idleSessions: 1000}, 1000, 1020},
		{"more idle than the default limit", options{clients: 4, idleSessions: 2500}, 2500, 2520},
	} {
		if got := sessionLimit(tc.o); got != tc.limit {
			t.Errorf("%s: sessionLimit = %d, want %d", tc.name, got, tc.limit)
		}
		if got := connectionsNeeded(tc.o); got != tc.maxConn {
			t.Errorf("%s: connectionsNeeded = %d, want %d", tc.name, got, tc.maxConn)
		}
	}
}

func TestProcStatus(t *testing.T) {
	s, err := procStatus(os.Getpid())
	if err != nil {
		t.Fatalf("procStatus(self): %v (the bench runs on Linux only)", err)
	}
	if s.rssKiB <= 0 || s.threads <= 0 || s.fds <= 0 {
		t.Errorf("procStatus(self) = %+v: RSS, threads and descriptors are all above zero in a running process", s)
	}
}
