package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadSmapsKinds: each mapping's Rss lands in its kind.
func TestReadSmapsKinds(t *testing.T) {
	const smaps = `00400000-0131e000 r-xp 00002000 fe:00 10518904   /usr/bin/gatehouse
Size:              15000 kB
Rss:                1000 kB
AnonHugePages:         0 kB
VmFlags: rd ex mr mw me
01000000-02000000 rw-p 00000000 00:00 0          [heap]
Rss:                  20 kB
3ee297000000-3ee299800000 rw-p 00000000 00:00 0 
Rss:                 300 kB
AnonHugePages:       100 kB
7f0b4401e000-7f0b44290000 rw-p 00000000 00:00 0 
Rss:                   4 kB
7ffc1000000-7ffc1021000 rw-p 00000000 00:00 0    [stack]
Rss:                   8 kB
`
	dir := t.TempDir()
	path := filepath.Join(dir, "smaps")
	if err := os.WriteFile(path, []byte(smaps), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readSmapsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := smapsKinds{goArena: 300, cHeap: 20, anon: 4, file: 1000, stack: 8, anonHuge: 100}
	if got != want {
		t.Errorf("readSmapsFile = %+v, want %+v", got, want)
	}
}
