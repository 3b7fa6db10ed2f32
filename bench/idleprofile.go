package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Where the idle gatehouse's memory is: its mappings in /proc/PID/smaps
// by kind (always), and with -idle-profile the Go runtime's own view
// (heap profile, goroutine stacks, MemStats) from ops.pprof, saved at
// every sample for `go tool pprof -base`.

// smapsKinds is the resident memory of one process by kind of mapping,
// in KiB.
type smapsKinds struct {
	goArena  int64 // anonymous below the mmap area: the Go runtime's heap arenas, which hold its heap and goroutine stacks
	cHeap    int64 // [heap]: glibc's main malloc arena (brk)
	anon     int64 // anonymous in the mmap area: glibc's per-thread arenas (pg_query's parser), threads' stacks, the Go runtime's off-heap structures
	file     int64 // file-backed: the binary's text and data, shared libraries
	stack    int64 // [stack]: the main thread's
	anonHuge int64 // of all, anonymous memory in transparent huge pages
}

// mmapArea is where Linux places mappings without an address hint on
// x86-64 (below the stack, at 0x7f…): glibc's arenas and threads' stacks.
// The Go runtime asks for its heap arenas at hinted addresses far below
// it (runtime/malloc.go; randomised since Go 1.26, still below).
const mmapArea = 0x700000000000

// readSmaps sums /proc/PID/smaps's Rss by kind of mapping.
func readSmaps(pid int) (smapsKinds, error) {
	return readSmapsFile(fmt.Sprintf("/proc/%d/smaps", pid))
}

func readSmapsFile(path string) (smapsKinds, error) {
	var k smapsKinds
	f, err := os.Open(path)
	if err != nil {
		return k, err
	}
	defer f.Close()
	var into *int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") {
			into = k.kindOf(fields)
			continue
		}
		if len(fields) < 2 || into == nil {
			continue
		}
		kib, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "Rss:":
			*into += kib
		case "AnonHugePages:":
			k.anonHuge += kib
		}
	}
	return k, sc.Err()
}

// kindOf says which sum a mapping's header line (address range, perms,
// offset, device, inode, path) adds to.
func (k *smapsKinds) kindOf(header []string) *int64 {
	start, _, _ := strings.Cut(header[0], "-")
	addr, _ := strconv.ParseUint(start, 16, 64)
	path := ""
	if len(header) >= 6 {
		path = header[5]
	}
	switch {
	case path == "[heap]":
		return &k.cHeap
	case path == "[stack]":
		return &k.stack
	case strings.HasPrefix(path, "/"):
		return &k.file
	case path == "" && addr < mmapArea:
		return &k.goArena
	default:
		return &k.anon
	}
}

func (k smapsKinds) minus(b smapsKinds) smapsKinds {
	return smapsKinds{k.goArena - b.goArena, k.cHeap - b.cHeap, k.anon - b.anon, k.file - b.file, k.stack - b.stack, k.anonHuge - b.anonHuge}
}

// perSession is a row of the attribution: KiB per session of each kind.
func (k smapsKinds) perSession(n int) string {
	f := func(v int64) float64 { return float64(v) / float64(n) }
	return fmt.Sprintf("Go arenas %.1f, C heap [heap] %.1f, mmap area (C arenas, thread stacks, off-heap runtime) %.1f, file %.1f KiB",
		f(k.goArena), f(k.cHeap), f(k.anon), f(k.file))
}

func (k smapsKinds) String() string {
	mib := func(v int64) float64 { return float64(v) / 1024 }
	return fmt.Sprintf("Go arenas %.1f, C heap [heap] %.1f, mmap area %.1f, file %.1f, [stack] %.1f MiB (huge pages %.1f)",
		mib(k.goArena), mib(k.cHeap), mib(k.anon), mib(k.file), mib(k.stack), mib(k.anonHuge))
}

// idleProfileYAML turns on the operations endpoint's profiles at addr.
func idleProfileYAML(addr string) string {
	return fmt.Sprintf("ops:\n  listen: %s\n  pprof: true\n", addr)
}

// saveProfiles saves the Go runtime's heap profile (after a GC), its
// MemStats and every goroutine's stack, and the process's smaps, as
// dir/NAME.{heap.pb.gz,heap.txt,goroutine.txt,smaps}.
func saveProfiles(dir, name, opsAddr string, pid int) error {
	base := "http://" + opsAddr + "/debug/pprof/"
	for _, p := range []struct{ path, file string }{
		{"heap?gc=1", "heap.pb.gz"},
		{"heap?debug=1", "heap.txt"},
		{"goroutine?debug=1", "goroutine.txt"},
	} {
		if err := fetch(base+p.path, filepath.Join(dir, name+"."+p.file)); err != nil {
			return err
		}
	}
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".smaps"), smaps, 0o644)
}

func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
