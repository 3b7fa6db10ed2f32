package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/pgrun"
)

// The idle-scale run (-idle-sessions N): N sessions at once through one
// gatehouse of their own, each an SSH connection with its own certificate
// and a PostgreSQL session as a role with a masking policy; gatehouse's
// memory, threads, descriptors and goroutines before, while they are open
// and after they close.

// schedtraceEvery is how often the idle gatehouse's Go runtime writes its
// goroutines to its log (GODEBUG schedtrace with scheddetail): gatehouse
// serves profiles only with ops.pprof (-idle-profile), which older builds
// lack, and this count must compare old and new builds alike. Every dump
// writes a line per goroutine while holding the scheduler's lock, so
// seldom.
const schedtraceEvery = 5 * time.Second

// idleSample is one look at the idle gatehouse.
type idleSample struct {
	rssKiB     int64
	threads    int
	fds        int
	goroutines int // -1: not read
	smaps      smapsKinds
}

type idleResult struct {
	sessions    int
	opened      time.Duration // to open them all
	settle      time.Duration
	hold        time.Duration // idle before the open sample
	base, open  idleSample
	afterClose  idleSample
	recordingTo string
}

func idleScale(ctx context.Context, o options, s manyAgentsSetup) (*idleResult, error) {
	say("idle scale: a gatehouse of its own (file store; Go runtime's goroutine dump every %s in its log)", schedtraceEvery)
	dir := filepath.Join(s.tmp, "gatehouse-idle")
	rec := fileRecording(filepath.Join(dir, "recordings"))
	rec.serveEnv = []string{fmt.Sprintf("GODEBUG=schedtrace=%d,scheddetail=1", schedtraceEvery.Milliseconds())}
	var opsAddr string
	if o.idleProfile != "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		opsAddr = fmt.Sprintf("127.0.0.1:%d", port)
		rec.yaml += idleProfileYAML(opsAddr)
		// A heap profile samples one allocation per 512 KiB by default:
		// too coarse for a few KiB a session.
		rec.serveEnv[0] += ",memprofilerate=1024"
		if err := os.MkdirAll(o.idleProfile, 0o755); err != nil {
			return nil, err
		}
	}
	gh, err := startGatehouse(ctx, o, dir, rec, s.db, s.done)
	if err != nil {
		return nil, err
	}
	// The profiles come after the sample: the heap profile collects
	// garbage first, which would change what the sample sees.
	sample := func(name string) (idleSample, error) {
		s, err := sampleIdle(ctx, gh)
		if err == nil && opsAddr != "" {
			if err = saveProfiles(o.idleProfile, name, opsAddr, gh.pid); err != nil {
				err = fmt.Errorf("idle scale: profiles %s: %w", name, err)
			}
		}
		return s, err
	}
	e, err := gatehouseEndpoint(gh, s.db.port)
	if err != nil {
		return nil, err
	}
	n := o.idleSessions
	if _, err := e.signers(ctx, n); err != nil {
		return nil, err
	}
	r := &idleResult{sessions: n, settle: o.idleSettle, hold: o.idleHold, recordingTo: "file store"}
	if r.base, err = sample("before"); err != nil {
		return nil, err
	}
	say("idle scale: opening %d sessions as orders:masked, %d at a time", n, dialParallel)
	start := time.Now()
	agents, err := openIdle(ctx, e, n, login{user: "masked", database: s.db.name, port: s.db.port}, o.mode)
	if err != nil {
		return nil, err
	}
	r.opened = time.Since(start)
	say("  opened in %.1f s", r.opened.Seconds())
	if o.idleHold > 0 {
		say("idle scale: holding them idle for %s before measuring", o.idleHold)
		time.Sleep(o.idleHold)
	}
	r.open, err = sample("open")
	closeAgents(agents)
	if err != nil {
		return nil, err
	}
	say("idle scale: closed; measuring again in %s", o.idleSettle)
	waitForFDs(gh.pid, r.base.fds, 30*time.Second)
	time.Sleep(o.idleSettle)
	if r.afterClose, err = sample("after"); err != nil {
		return nil, err
	}
	return r, nil
}

// openIdle opens n sessions and runs one statement in each, so that
// every session has been through the proxy's statement path once.
func openIdle(ctx context.Context, e *sshEndpoint, n int, l login, mode string) ([]*agentConn, error) {
	agents, err := dialAgents(ctx, e, n, dialParallel, l)
	if err != nil {
		return nil, err
	}
	err = forEach(n, dialParallel, func(i int) error {
		st, err := newAgentStatement(ctx, agents[i].pg, mode, uint64(i))
		if err == nil {
			err = st.run(ctx, 1+i)
		}
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		closeAgents(agents)
		return nil, err
	}
	return agents, nil
}

// sampleIdle reads the process's status and descriptors, then waits for
// the runtime's next complete goroutine dump.
func sampleIdle(ctx context.Context, gh *gatehouseServer) (idleSample, error) {
	st, err := os.Stat(gh.logPath)
	if err != nil {
		return idleSample{}, err
	}
	s, err := procStatus(gh.pid)
	if err != nil {
		return s, err
	}
	if s.smaps, err = readSmaps(gh.pid); err != nil {
		return s, err
	}
	s.goroutines = -1
	deadline := time.Now().Add(3*schedtraceEvery + time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		data, err := readFrom(gh.logPath, st.Size())
		if err != nil {
			return s, err
		}
		if g, ok := countGoroutines(data); ok {
			s.goroutines = g
			break
		}
	}
	return s, nil
}

func readFrom(path string, offset int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return "", err
	}
	var b strings.Builder
	_, err = bufio.NewReader(f).WriteTo(&b)
	return b.String(), err
}

// procStatus reads VmRSS and Threads from /proc/PID/status, and counts
// /proc/PID/fd.
func procStatus(pid int) (idleSample, error) {
	var s idleSample
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			s.rssKiB, _ = strconv.ParseInt(fields[0], 10, 64)
		case "Threads":
			s.threads, _ = strconv.Atoi(fields[0])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	return s, nil
}

// waitForFDs waits until the process holds at most want descriptors (its
// sessions have ended) or until timeout.
func waitForFDs(pid, want int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s, err := procStatus(pid); err != nil || s.fds <= want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var reGoroutine = regexp.MustCompile(`^  G[0-9]+: status=([0-9]+)`)

// countGoroutines counts the goroutines of the first complete dump in a
// GODEBUG=schedtrace,scheddetail=1 log: those between its "SCHED" line
// and the next one that are not dead (status 6, _Gdead: kept for reuse)
// or idle (0, just allocated). The runtime's own goroutines are included.
func countGoroutines(log string) (int, bool) {
	count, inDump := 0, false
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "SCHED ") {
			if inDump {
				return count, true
			}
			inDump = true
			continue
		}
		m := reGoroutine.FindStringSubmatch(line)
		if !inDump || m == nil {
			continue
		}
		status, _ := strconv.Atoi(m[1])
		if status &^= 0x1000; status != 0 && status != 6 { // 0x1000: _Gscan, being scanned
			count++
		}
	}
	return 0, false
}

func (r *idleResult) report() {
	fmt.Printf("\n==== idle scale: %d sessions at once through one gatehouse (%s), each its own SSH connection, certificate and PostgreSQL session (orders:masked) ====\n",
		r.sessions, r.recordingTo)
	fmt.Printf("%-36s %9s %8s %7s %11s\n", "", "RSS MiB", "threads", "fds", "goroutines")
	for _, row := range []struct {
		name string
		s    idleSample
	}{
		{"before (baseline)", r.base},
		{fmt.Sprintf("%d open (idle %s)", r.sessions, r.hold), r.open},
		{fmt.Sprintf("after they close (+%s)", r.settle), r.afterClose},
	} {
		fmt.Printf("%-36s %9.1f %8d %7d %11s\n", row.name, float64(row.s.rssKiB)/1024, row.s.threads, row.s.fds, goroutineText(row.s.goroutines))
	}
	perSession := float64(r.open.rssKiB-r.base.rssKiB) / float64(r.sessions)
	fmt.Printf("per open session: %.0f KiB RSS", perSession)
	if r.open.goroutines >= 0 && r.base.goroutines >= 0 {
		fmt.Printf(", %.1f goroutines", float64(r.open.goroutines-r.base.goroutines)/float64(r.sessions))
	}
	fmt.Printf("; opened in %.1f s (%.0f a second, %d at a time, each with one statement)\n",
		r.opened.Seconds(), float64(r.sessions)/r.opened.Seconds(), dialParallel)
	fmt.Printf("per open session by mapping (/proc/PID/smaps Rss): %s\n", r.open.smaps.minus(r.base.smaps).perSession(r.sessions))
	for _, row := range []struct {
		name string
		s    idleSample
	}{{"before", r.base}, {"open", r.open}, {"after", r.afterClose}} {
		fmt.Printf("  %-7s %s\n", row.name, row.s.smaps)
	}
	fmt.Println("RSS: VmRSS of /proc/PID/status; threads: its OS threads (Threads there), not goroutines; fds: /proc/PID/fd.")
	fmt.Printf("goroutines: live ones, the Go runtime's own included, counted in the dump GODEBUG=schedtrace=%d,scheddetail=1\n", schedtraceEvery.Milliseconds())
	fmt.Println("writes to this gatehouse's log (set for it alone: it needs no ops.pprof, so older builds are measured the same way).")
	if r.sessions >= 1000 {
		rss := float64(r.open.rssKiB) / 1024
		fmt.Printf("Target (issue 15) ≤ 150 MiB RSS with 1,000 open: %.0f MiB — %s\n", rss, verdict(rss <= 150))
	}
	rssBack := float64(r.afterClose.rssKiB) / float64(r.base.rssKiB)
	line := fmt.Sprintf("Target (issue 15) back within 10 %% of the baseline after they close: RSS %.2f×", rssBack)
	ok := rssBack <= 1.1
	if r.afterClose.goroutines >= 0 && r.base.goroutines > 0 {
		g := float64(r.afterClose.goroutines) / float64(r.base.goroutines)
		line += fmt.Sprintf(", goroutines %.2f×", g)
		ok = ok && g <= 1.1
	} else {
		line += ", goroutines not read"
		ok = false
	}
	fmt.Printf("%s — %s\n", line, verdict(ok))
}

func goroutineText(n int) string {
	if n < 0 {
		return "not read"
	}
	return strconv.Itoa(n)
}

func verdict(met bool) string {
	if met {
		return "MET"
	}
	return "NOT MET"
}

// raiseMaxConnections sets PostgreSQL's max_connections to need when its
// default (100) is too few, and restarts the cluster in dir, which
// pgrun started (pg_ctl restart keeps its command-line options).
func raiseMaxConnections(ctx context.Context, pg *pgrun.Server, dir string, need int) error {
	if need <= 100 {
		return nil
	}
	say("PostgreSQL: max_connections %d for the agents and idle sessions (ALTER SYSTEM, pg_ctl restart)", need)
	if _, err := superuserExec(ctx, pg, fmt.Sprintf("ALTER SYSTEM SET max_connections = %d", need)); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(pgrun.BinDir, "pg_ctl"), "-D", filepath.Join(dir, "data"),
		"-l", filepath.Join(dir, "postgres.log"), "-m", "fast", "-w", "-t", "60", "restart")
	cmd.Dir = dir
	// Its own process group, as pgrun starts it; as root, the postgres user.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl restart: %v\n%s", err, out)
	}
	got, err := superuserExec(ctx, pg, "SHOW max_connections")
	if err != nil {
		return err
	}
	if got != strconv.Itoa(need) {
		return fmt.Errorf("PostgreSQL's max_connections is %s after the restart, not %d", got, need)
	}
	return nil
}

// superuserExec runs sql as postgres and returns the first value of its
// first row, if it has one.
func superuserExec(ctx context.Context, pg *pgrun.Server, sql string) (string, error) {
	conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres password=%s dbname=postgres sslmode=disable", pg.Port, pg.Password))
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL as postgres: %w", err)
	}
	defer conn.Close(ctx)
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return "", fmt.Errorf("%s: %w", sql, err)
	}
	if len(res) == 0 || len(res[0].Rows) == 0 || len(res[0].Rows[0]) == 0 {
		return "", nil
	}
	return string(res[0].Rows[0][0]), nil
}
