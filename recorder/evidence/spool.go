package evidence

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
)

// spool is one data file written to a temporary file as its rows come,
// through SHA-256 and a byte count: a population too large to hold (the
// statements of a quarter) never is held, and the manifest has its hash
// when the zip is written.
type spool struct {
	f    *os.File
	buf  *bufio.Writer
	hash hash.Hash
	n    int64
}

func newSpool(dir, name string) (*spool, error) {
	f, err := os.CreateTemp(dir, ".evidence-"+name+"-*")
	if err != nil {
		return nil, fmt.Errorf("evidence: spooling %s: %w", name, err)
	}
	return &spool{f: f, buf: bufio.NewWriterSize(f, 1<<16), hash: sha256.New()}, nil
}

func (s *spool) Write(p []byte) (int, error) {
	n, err := s.buf.Write(p)
	s.hash.Write(p[:n])
	s.n += int64(n)
	return n, err
}

// contents flushes the spool and reads it from its start.
func (s *spool) contents() (io.Reader, error) { return s.reader(1 << 16) }

// reader flushes the spool and reads it from its start through a buffer
// of size bytes.
func (s *spool) reader(size int) (io.Reader, error) {
	if err := s.seal(); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(s.f, size), nil
}

// seal flushes the spool and lets its write buffer go: nothing more is
// written to it.
func (s *spool) seal() error {
	if s.buf == nil {
		return nil
	}
	err := s.buf.Flush()
	s.buf = nil
	return err
}

// remove closes and deletes the temporary file.
func (s *spool) remove() {
	s.f.Close()
	os.Remove(s.f.Name())
}

// table writes one population as NOUN.csv and NOUN.jsonl, row by row, to
// two spools.
type table[R row] struct {
	noun        string
	csvs, jsons *spool
	cw          *csv.Writer
	enc         *json.Encoder
	rows        int
}

// newTable starts a population's files in dir, the CSV with its header;
// spools records them for removal.
func newTable[R row](dir, noun string, header []string, spools *[]*spool) (*table[R], error) {
	c, err := newSpool(dir, noun+".csv")
	if err != nil {
		return nil, err
	}
	*spools = append(*spools, c)
	j, err := newSpool(dir, noun+".jsonl")
	if err != nil {
		return nil, err
	}
	*spools = append(*spools, j)
	t := &table[R]{noun: noun, csvs: c, jsons: j, cw: csv.NewWriter(c), enc: json.NewEncoder(j)}
	return t, t.cw.Write(header)
}

// add writes one row: its cells to the CSV, the row as it is (text
// exact) to the JSON Lines.
func (t *table[R]) add(r R) error {
	if err := t.cw.Write(r.cells()); err != nil {
		return fmt.Errorf("evidence: writing %s.csv: %w", t.noun, err)
	}
	if err := t.enc.Encode(r); err != nil {
		return fmt.Errorf("evidence: writing %s.jsonl: %w", t.noun, err)
	}
	t.rows++
	return nil
}

// files ends the population: its two files as the bundle lists them.
func (t *table[R]) files() ([]dataFile, error) {
	t.cw.Flush()
	if err := t.cw.Error(); err != nil {
		return nil, fmt.Errorf("evidence: writing %s.csv: %w", t.noun, err)
	}
	return []dataFile{{name: t.noun + ".csv", spool: t.csvs, rows: t.rows}, {name: t.noun + ".jsonl", spool: t.jsons, rows: t.rows}}, nil
}

// tableFiles is a population held in memory as NOUN.csv and NOUN.jsonl.
func tableFiles[R row](dir, noun string, header []string, rows []R, spools *[]*spool) ([]dataFile, error) {
	t, err := newTable[R](dir, noun, header, spools)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if err := t.add(r); err != nil {
			return nil, err
		}
	}
	return t.files()
}

// sortedFiles is a population a sorter put in order, as NOUN.csv and
// NOUN.jsonl, each row as rowOf makes it of what the sorter holds.
func sortedFiles[H any, R row](dir, noun string, header []string, s *sorter[H], rowOf func(H) (R, error), spools *[]*spool) ([]dataFile, error) {
	t, err := newTable[R](dir, noun, header, spools)
	if err != nil {
		return nil, err
	}
	err = s.each(func(h H) error {
		r, err := rowOf(h)
		if err != nil {
			return err
		}
		return t.add(r)
	})
	if err != nil {
		return nil, err
	}
	return t.files()
}
