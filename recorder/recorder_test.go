package recorder

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeStream(t *testing.T, n int) (FileStore, string) {
	t.Helper()
	store := FileStore{Dir: t.TempDir()}
	clock := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	rec := &Recorder{Store: store, Clock: func() time.Time { return clock }}
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := s.Emit("test.event", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("late", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close = %v, want ErrClosed", err)
	}
	return store, s.ID
}

func TestChainIntact(t *testing.T) {
	store, id := writeStream(t, 5)
	lines, err := store.Lines(KindSession, id)
	if err != nil {
		t.Fatal(err)
	}
	events, err := VerifyChain(lines)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 5 || events[0].Prev != GenesisHash || events[4].Seq != 4 {
		t.Fatalf("events = %+v", events)
	}
	var payload struct{ I int }
	if err := events[3].DecodeData(&payload); err != nil || payload.I != 3 {
		t.Fatalf("payload = %+v, %v", payload, err)
	}
	ids, err := store.List(KindSession)
	if err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("List = %v, %v", ids, err)
	}
}

func TestChainDetectsTampering(t *testing.T) {
	store, id := writeStream(t, 5)
	orig, err := store.Lines(KindSession, id)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() [][]byte {
		out := make([][]byte, len(orig))
		for i := range orig {
			out[i] = bytes.Clone(orig[i])
		}
		return out
	}
	tests := []struct {
		name     string
		tamper   func([][]byte) [][]byte
		wantLine int
		want     string
	}{
		{"edit a field", func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"i":2`), []byte(`"i":9`), 1)
			return l
		}, 4, "previous-hash"},
		{"delete a line", func(l [][]byte) [][]byte { return append(l[:1], l[2:]...) }, 2, "sequence 2 where 1"},
		{"swap two lines", func(l [][]byte) [][]byte { l[1], l[2] = l[2], l[1]; return l }, 2, "sequence 2 where 1"},
		{"garbage line", func(l [][]byte) [][]byte { l[0] = []byte("{not json"); return l }, 1, "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyChain(tt.tamper(clone()))
			var ce *ChainError
			if !errors.As(err, &ce) || ce.Line != tt.wantLine || !strings.Contains(ce.Reason, tt.want) {
				t.Fatalf("err = %v, want line %d %q", err, tt.wantLine, tt.want)
			}
		})
	}
}

func TestConcurrentEmitKeepsChain(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	s, err := (&Recorder{Store: store}).Open(KindCA)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 20; i++ {
				if err := s.Emit("x", g); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	lines, _ := store.Lines(KindCA, s.ID)
	if events, err := VerifyChain(lines); err != nil || len(events) != 160 {
		t.Fatalf("%d events, %v", len(events), err)
	}
}

func TestStoreRejectsPathNames(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	for _, bad := range []string{"../x", "a/b", ".hidden", ""} {
		if _, err := store.Create(KindSession, bad); err == nil {
			t.Errorf("Create(%q) accepted", bad)
		}
		if _, err := store.Lines(KindSession, bad); err == nil {
			t.Errorf("Lines(%q) accepted", bad)
		}
	}
}
