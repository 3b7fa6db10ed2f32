package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// recordingSetup is how one gatehouse under test records: the
// configuration's recording block, and what the environment of serve and
// of the gatehouse commands needs besides.
type recordingSetup struct {
	yaml     string
	env      []string
	serveEnv []string // for gatehouse serve alone
}

func fileRecording(dir string) recordingSetup {
	return recordingSetup{yaml: fmt.Sprintf("recording:\n  store: file\n  dir: %s\n", dir)}
}

// discardRecording is the store that keeps nothing, with the
// acknowledgement it needs (policy.DiscardRecordingsEnv).
func discardRecording() recordingSetup {
	return recordingSetup{yaml: "recording:\n  store: discard\n", env: []string{policy.DiscardRecordingsEnv + "=1"}}
}

// s3Recording records to a bucket with Object Lock on m, made by
// gatehouse itself (create_bucket), through the spool in spoolDir as in
// production.
func s3Recording(m *minioServer, spoolDir string) recordingSetup {
	return recordingSetup{
		yaml: fmt.Sprintf(`recording:
  store: s3
  dir: %s
  s3:
    endpoint: %s
    bucket: gatehouse-bench
    access_key_env: GATEHOUSE_BENCH_S3_ACCESS
    secret_key_env: GATEHOUSE_BENCH_S3_SECRET
    retention: 1d
    mode: governance
    create_bucket: true
`, spoolDir, m.endpoint),
		env: []string{"GATEHOUSE_BENCH_S3_ACCESS=" + m.accessKey, "GATEHOUSE_BENCH_S3_SECRET=" + m.secretKey},
	}
}

// minioServer is a MinIO server on 127.0.0.1, the S3 store with Object
// Lock the e2e tests use (INFRA.md).
type minioServer struct {
	pid                  int
	endpoint             string
	accessKey, secretKey string
}

// minioBinary finds the MinIO server `make test-deps` builds and caches
// (testenv.MinIOCachePath), without building it: that takes minutes, and the
// benchmark says how instead.
func minioBinary(explicit string) (string, error) {
	if explicit != "" {
		if err := isExecutable(explicit); err != nil {
			return "", fmt.Errorf("-minio %s: %w", explicit, err)
		}
		return explicit, nil
	}
	cached := testenv.MinIOCachePath()
	if isExecutable(cached) == nil {
		return cached, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the S3 path needs a MinIO server, and there is none at %s or on PATH. "+
		"Build it once with `make test-deps` (it caches it there; about 7.5 minutes "+
		"the first time), or `GOBIN=DIR go install %s` and pass -minio DIR/minio; or run with -s3=false to leave the S3 path out",
		cached, testenv.MinIOModule)
}

func isExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// startMinIO runs MinIO with its data in dir. Object Lock makes stored
// versions undeletable through the API, not on disk: the cleanups remove
// dir with everything else.
func startMinIO(ctx context.Context, bin, dir string, done *cleanups) (*minioServer, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	console, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &minioServer{endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), accessKey: "gatehouse-bench", secretKey: randomHex(20)}
	logPath := filepath.Join(dir, "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	done.add(func() { logFile.Close() })
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"), "--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console), "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.accessKey, "MINIO_ROOT_PASSWORD="+m.secretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := startProcess(cmd, done)
	if err != nil {
		return nil, fmt.Errorf("start MinIO (%s): %w", bin, err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	ready := func() bool {
		resp, err := client.Get(m.endpoint + "/minio/health/cluster")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if err := p.waitFor(ctx, "MinIO", ready, func() string { return readTail(logPath) }); err != nil {
		return nil, err
	}
	m.pid = cmd.Process.Pid
	return m, nil
}

// gatehousePath starts a gatehouse recording as rec says, and the ssh -L
// tunnel to its orders target; aux are more processes the path uses
// (MinIO, for S3), whose CPU is counted apart.
func gatehousePath(ctx context.Context, o options, dir string, rec recordingSetup, db *database, done *cleanups, aux ...int) (*path, *gatehouseServer, error) {
	gh, err := startGatehouse(ctx, o, dir, rec, db, done)
	if err != nil {
		return nil, nil, err
	}
	port, err := startTunnel(ctx, gh.sshConfig, "gatehouse", fmt.Sprintf("orders:%d", db.port), done)
	if err != nil {
		return nil, nil, err
	}
	p := &path{port: port, user: "readonly", profiled: true, aux: aux, gh: gh,
		server: func() []int { return []int{gh.pid} }}
	return p, gh, nil
}

// recordingPaths are the gatehouses beside the file store's: S3 (unless
// -s3=false), discard, and the tmpfs diagnostic (unless turned off).
func recordingPaths(ctx context.Context, o options, minioBin, tmp string, db *database, done *cleanups) ([]*path, error) {
	var paths []*path
	add := func(name, label, dir string, rec recordingSetup, aux ...int) error {
		p, _, err := gatehousePath(ctx, o, filepath.Join(tmp, dir), rec, db, done, aux...)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		p.name, p.label = name, label
		paths = append(paths, p)
		return nil
	}
	if o.s3 {
		say("starting MinIO (%s) and a gatehouse recording to it (store s3, Object Lock, create_bucket)", minioBin)
		m, err := startMinIO(ctx, minioBin, filepath.Join(tmp, "minio"), done)
		if err != nil {
			return nil, err
		}
		counter, endpoint, err := startS3Counter(m.endpoint, done)
		if err != nil {
			return nil, err
		}
		counted := *m
		counted.endpoint = endpoint
		dir := filepath.Join(tmp, "gatehouse-s3")
		if err := add("gatehouse-s3", "gatehouse, S3 store (MinIO)†", "gatehouse-s3", s3Recording(&counted, filepath.Join(dir, "spool")), m.pid); err != nil {
			return nil, err
		}
		paths[len(paths)-1].s3 = counter
		if w := o.decisionWindow; w > 0 {
			say("starting a gatehouse recording to S3 with recording.decision_sync_window %s", w)
			rec := s3Recording(m, filepath.Join(tmp, "gatehouse-s3-window", "spool"))
			rec.yaml += fmt.Sprintf("  decision_sync_window: %s\n", w)
			if err := add("gatehouse-s3-window", fmt.Sprintf("gatehouse, S3, sync window %s§", w), "gatehouse-s3-window", rec, m.pid); err != nil {
				return nil, err
			}
		}
	}
	say("starting a gatehouse whose recorder discards events (benchmark only: %s=1)", policy.DiscardRecordingsEnv)
	if err := add("gatehouse-discard", "gatehouse, discard store‡", "gatehouse-discard", discardRecording()); err != nil {
		return nil, err
	}
	if o.tmpfsDiag {
		shm, err := os.MkdirTemp("/dev/shm", "gatehouse-bench-")
		if err != nil {
			return nil, fmt.Errorf("the tmpfs diagnostic needs /dev/shm (or run with -tmpfs-diagnostic=false): %w", err)
		}
		done.add(func() { os.RemoveAll(shm) })
		say("starting a gatehouse recording to %s (diagnostic: fsync is free on tmpfs)", shm)
		if err := add("gatehouse-tmpfs", "gatehouse, recordings on tmpfs*", "gatehouse-tmpfs", fileRecording(shm)); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// medianRun is the path's median round by TPS.
func medianRun(p *path) result {
	runs := slices.Clone(p.runs)
	sort.Slice(runs, func(i, j int) bool { return runs[i].tps < runs[j].tps })
	return runs[len(runs)/2]
}

// findPath is the path with this name, or nil if it was not run.
func findPath(paths []*path, name string) *path {
	for _, p := range paths {
		if p.name == name {
			return p
		}
	}
	return nil
}

// issue5MaxCost is issue 5's target: recording to S3 costs at most 3 %
// of the TPS of a recorder that keeps nothing.
const issue5MaxCost = 0.03

// reportRecordingCost prints what each store costs against discard: the
// ratio of the median rounds, and each round's own ratio (the paths ran
// one after the other in every round, so a round's ratio compares like
// with like).
func reportRecordingCost(paths []*path) {
	discard := findPath(paths, "gatehouse-discard")
	fmt.Println("Recording cost against the discard store (cost = 1 − TPS/discard TPS):")
	for _, name := range []string{"gatehouse", "gatehouse-s3", "gatehouse-s3-window", "gatehouse-tmpfs"} {
		p := findPath(paths, name)
		if p == nil {
			continue
		}
		var rounds []string
		for i := range p.runs {
			rounds = append(rounds, fmt.Sprintf("%.2f", p.runs[i].tps/discard.runs[i].tps))
		}
		ratio := medianRun(p).tps / medianRun(discard).tps
		fmt.Printf("  %-32s %.2f× of discard, cost %4.1f %%   (rounds: %s)\n", p.label, ratio, (1-ratio)*100, strings.Join(rounds, ", "))
	}
	s3 := findPath(paths, "gatehouse-s3")
	if s3 == nil {
		fmt.Println("Target (issue 5) recording to S3 costs ≤ 3 %: not measured (-s3=false)")
		return
	}
	cost := 1 - medianRun(s3).tps/medianRun(discard).tps
	verdict := "MET"
	if cost > issue5MaxCost {
		verdict = "NOT MET"
	}
	fmt.Printf("Target (issue 5) recording to S3 costs ≤ 3 %%: S3/discard %.2f×, cost %.1f %% — %s\n",
		1-cost, cost*100, verdict)
	if w := findPath(paths, "gatehouse-s3-window"); w != nil {
		ratio := medianRun(w).tps / medianRun(discard).tps
		fmt.Printf("  (not the default) with recording.decision_sync_window: S3/discard %.2f×, cost %.1f %%\n", ratio, (1-ratio)*100)
	}
}
