// Command evidence is `make bench-evidence`: one SOC 2 evidence bundle
// at volume. It writes signed session recordings with bench/recgen (the
// console benchmark's fixture, spread evenly over -days from
// recgen.Start), then builds the bundle of that period with
// recorder/evidence as `gatehouse evidence` does, and reports its wall
// and CPU time, peak heap and peak RSS, the bundle's size and the rows
// of every population.
//
//	go run ./bench/evidence -sessions 100000 -statements 10000000 -dir /tmp/evidence-bench
//
// The recordings are kept in -dir (a second run with the same figures
// reuses them). The bundle is built in a process of its own, so that
// its peak RSS is not the generator's. Not part of CI.
package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/recgen"
	"github.com/gatehouse-dev/gatehouse/internal/heappeak"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/evidence"
)

type config struct {
	sessions, statements, days int
	dir, out                   string
	heapProfile                string
}

func main() {
	var c config
	flag.IntVar(&c.sessions, "sessions", 10000, "session recordings in the period")
	flag.IntVar(&c.statements, "statements", 1000000, "statements across them")
	flag.IntVar(&c.days, "days", 90, "the period: the sessions are spread evenly over it")
	flag.StringVar(&c.dir, "dir", filepath.Join(os.TempDir(), "gatehouse-evidence-bench"), "where the recordings and the bundle go")
	flag.StringVar(&c.out, "out", "", "the bundle (default DIR/bundle.zip)")
	flag.StringVar(&c.heapProfile, "memprofile", "", "write a heap profile at the bundle's peak heap to this file")
	buildOnly := flag.Bool("build-only", false, "build the bundle of the recordings in -dir without writing any")
	flag.Parse()
	if c.out == "" {
		c.out = filepath.Join(c.dir, "bundle.zip")
	}
	run := generate
	if *buildOnly {
		run = build
	}
	if err := run(c); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func (c config) store() recorder.FileStore {
	return recorder.FileStore{Dir: filepath.Join(c.dir, "recordings")}
}
func (c config) period() time.Duration { return time.Duration(c.days) * 24 * time.Hour }

// generate writes what recordings -dir lacks, then builds the bundle in a
// new process of this program.
func generate(c config) error {
	key, err := recgen.LoadOrMakeKey(filepath.Join(c.dir, "recorder_ed25519"))
	if err != nil {
		return err
	}
	began := time.Now()
	written, err := recgen.GenerateOver(c.store().Dir, key, c.sessions, c.statements, c.period())
	if err != nil {
		return err
	}
	fmt.Printf("recordings: %d sessions, %d statements over %d days (%d written now in %s), %s on disk\n", c.sessions, c.statements,
		c.days, written, time.Since(began).Round(time.Millisecond), recgen.Size(filepath.Join(c.store().Dir, recorder.KindSession)))
	// The flag last: it wins over a -build-only=false given.
	cmd := exec.Command(os.Args[0], append(os.Args[1:], "-build-only=true")...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// build makes the bundle of the period as `gatehouse evidence` does (the
// recorder key verifies the sessions and signs the manifest; the spool
// next to the bundle), and reports what it cost.
func build(c config) error {
	key, err := recgen.LoadOrMakeKey(filepath.Join(c.dir, "recorder_ed25519"))
	if err != nil {
		return err
	}
	from := recgen.Start
	to := from.Add(c.period())
	opts := evidence.Options{Scope: evidence.Scope{From: from, To: to}, Lag: 10 * time.Second,
		Args: []string{"--from", from.Format(time.DateOnly), "--to", to.Add(-time.Nanosecond).Format(time.DateOnly)},
		Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, Signer: key,
		Store: evidence.StoreInfo{Store: "file", Dir: c.store().Dir}, TempDir: filepath.Dir(c.out),
		Version: "bench", Producer: "bench/evidence", Now: to}
	f, err := os.Create(c.out)
	if err != nil {
		return err
	}
	defer f.Close()
	cpu0 := cpuTime()
	peak := watchHeap(c.heapProfile)
	began := time.Now()
	m, err := evidence.Build(f, c.store(), opts)
	wall, heap := time.Since(began), peak()
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	report(c, m, wall, cpuTime()-cpu0, heap)
	return nil
}

func report(c config, m *evidence.Manifest, wall, cpu time.Duration, heap uint64) {
	info, _ := os.Stat(c.out)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("bundle: %d days, %d sessions, %d statements: wall %s, CPU %s (%d CPUs), peak heap %.1f MiB, peak RSS %.1f MiB, %.1f MB zipped\n",
		c.days, c.sessions, c.statements, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), runtime.NumCPU(),
		float64(heap)/(1<<20), float64(ru.Maxrss)/1024, float64(info.Size())/1e6)
	fmt.Printf("per statement: %.2f µs wall, %.2f µs CPU\n", float64(wall.Microseconds())/float64(max(c.statements, 1)),
		float64(cpu.Microseconds())/float64(max(c.statements, 1)))
	for _, file := range m.Files {
		fmt.Printf("  %-18s %10s rows %12s bytes\n", file.Name, strconv.Itoa(file.Rows), strconv.FormatInt(file.Bytes, 10))
	}
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// watchHeap samples the heap's live objects until the returned function
// is called, which says the most it saw; with a profile path, it writes
// a heap profile each time the peak grows by a tenth.
func watchHeap(profile string) func() uint64 {
	if profile == "" {
		return heappeak.Watch(heappeak.Objects, nil)
	}
	profiled := uint64(0) // the sampling goroutine's
	return heappeak.Watch(heappeak.Objects, func(v uint64) {
		if v > profiled+profiled/10 {
			profiled = v
			writeHeapProfile(profile)
		}
	})
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Print(err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		log.Print(err)
	}
}
