package ca

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/krl"
)

// fakeStreams is a CA record in memory that counts what is read.
type fakeStreams struct {
	mu      sync.Mutex
	ids     []string
	events  map[string][]IssuedEvent
	closed  map[string]bool
	gone    map[string]bool  // listed, then pruned before it is read
	failing map[string]error // reading it fails
	listErr error
	lists   int
	reads   map[string]int
}

func newFakeStreams() *fakeStreams {
	return &fakeStreams{events: map[string][]IssuedEvent{}, closed: map[string]bool{}, gone: map[string]bool{},
		failing: map[string]error{}, reads: map[string]int{}}
}

// add records a stream of n issuances, serials from first.
func (f *fakeStreams) add(id string, closed bool, first uint64, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, id)
	f.closed[id] = closed
	for i := range n {
		f.events[id] = append(f.events[id], IssuedEvent{Serial: first + uint64(i), KeyID: "carol@example.com",
			ValidAfter: testNow.Add(-time.Hour), ValidBefore: testNow.Add(time.Hour)})
	}
}

func (f *fakeStreams) List() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return slices.Clone(f.ids), f.listErr
}

func (f *fakeStreams) Closed(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed[id]
}

func (f *fakeStreams) Issued(id string) ([]IssuedEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[id]++
	switch {
	case f.gone[id]:
		return nil, fmt.Errorf("open %s: %w", id, fs.ErrNotExist)
	case f.failing[id] != nil:
		return nil, f.failing[id]
	}
	return slices.Clone(f.events[id]), nil
}

func serialsOf(evs []IssuedEvent) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Serial)
	}
	return out
}

// TestIssuedIndexKeepsClosedStreams: a closed stream is read once; one
// still being written is read on every call, and kept once it closes.
func TestIssuedIndexKeepsClosedStreams(t *testing.T) {
	f := newFakeStreams()
	f.add("old", true, 1, 2)
	f.add("live", false, 10, 1)
	x := &IssuedIndex{Streams: f}
	for range 3 {
		got, err := x.All()
		if err != nil || !slices.Equal(serialsOf(got), []uint64{1, 2, 10}) {
			t.Fatalf("All = %v, %v", serialsOf(got), err)
		}
	}
	if f.reads["old"] != 1 || f.reads["live"] != 3 {
		t.Errorf("reads %v, want the closed stream once and the live one every time", f.reads)
	}
	f.mu.Lock()
	f.events["live"] = append(f.events["live"], IssuedEvent{Serial: 11})
	f.closed["live"] = true
	f.mu.Unlock()
	f.add("new", false, 20, 1)
	for range 2 {
		got, err := x.All()
		if err != nil || !slices.Equal(serialsOf(got), []uint64{1, 2, 10, 11, 20}) {
			t.Fatalf("after the stream closed: %v, %v", serialsOf(got), err)
		}
	}
	if f.reads["live"] != 4 || f.reads["new"] != 2 {
		t.Errorf("reads %v, want the newly closed stream read once more, the new one every time", f.reads)
	}
}

// TestIssuedIndexClosedAfterRead: a stream found open, then closed while
// it was read, is read again (what was read may lack its last lines).
func TestIssuedIndexClosedAfterRead(t *testing.T) {
	f := newFakeStreams()
	f.add("s", false, 1, 1)
	x := &IssuedIndex{Streams: closingStreams{f}}
	if _, err := x.All(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.All(); err != nil {
		t.Fatal(err)
	}
	if f.reads["s"] != 2 {
		t.Errorf("read %d times, want 2: the first read began before the stream was closed", f.reads["s"])
	}
}

// closingStreams closes each stream as soon as its lines are read.
type closingStreams struct{ *fakeStreams }

func (c closingStreams) Issued(id string) ([]IssuedEvent, error) {
	evs, err := c.fakeStreams.Issued(id)
	c.mu.Lock()
	c.closed[id] = true
	c.mu.Unlock()
	return evs, err
}

func TestIssuedIndexErrors(t *testing.T) {
	broken := errors.New("disk on fire")
	tests := []struct {
		name    string
		setup   func(f *fakeStreams)
		want    []uint64
		wantErr error
	}{
		{"pruned since listed", func(f *fakeStreams) { f.gone["b"] = true }, []uint64{1}, nil},
		{"unreadable stream", func(f *fakeStreams) { f.failing["b"] = broken }, nil, broken},
		{"unlistable record", func(f *fakeStreams) { f.listErr = broken }, nil, broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStreams()
			f.add("a", true, 1, 1)
			f.add("b", true, 2, 1)
			tt.setup(f)
			got, err := (&IssuedIndex{Streams: f}).All()
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || !slices.Equal(serialsOf(got), tt.want) {
				t.Errorf("All = %v, %v; want %v, %v", serialsOf(got), err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestKRLFunc: GET /v1/krl resolves identity entries through the index,
// which it does not read while nothing is revoked.
func TestKRLFunc(t *testing.T) {
	a, _ := newTestAuthority(t)
	f := newFakeStreams()
	f.add("s", true, 7, 1)
	path := filepath.Join(t.TempDir(), RevocationFile)
	l, err := OpenRevocationList(path)
	if err != nil {
		t.Fatal(err)
	}
	render := l.KRLFunc(a.UserSigner.PublicKey(), &IssuedIndex{Streams: f}, func() time.Time { return testNow })
	serials := func() []uint64 {
		t.Helper()
		data, err := render(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		k, err := krl.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, s := range k.Certificates {
			out = append(out, s.Serials...)
		}
		return out
	}
	if got := serials(); len(got) != 0 || f.lists != 0 {
		t.Errorf("empty list: serials %v, record listed %d times; want none, 0", got, f.lists)
	}
	if err := AppendRevocation(path, Revocation{Identity: "carol@example.com", RevokedAt: testNow}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serials(); !slices.Equal(got, []uint64{7}) {
		t.Errorf("identity entry: serials %v, want [7] from the record", got)
	}
	f.listErr = fmt.Errorf("pgstate: read: %w", ErrStateUnavailable)
	if got := serials(); !slices.Equal(got, []uint64{7}) {
		t.Errorf("shared state unavailable: serials %v, want [7] as last read", got)
	}
	f.listErr = errors.New("disk on fire")
	if _, err := render(context.Background()); err == nil {
		t.Error("a record that cannot be read rendered a KRL without it")
	}
	fresh := l.KRLFunc(a.UserSigner.PublicKey(), &IssuedIndex{Streams: f}, nil)
	f.listErr = fmt.Errorf("pgstate: read: %w", ErrStateUnavailable)
	if _, err := fresh(context.Background()); err == nil {
		t.Error("shared state unavailable before it was ever read: rendered a KRL without the record")
	}
}
