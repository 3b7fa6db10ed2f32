package masking

import (
	"strings"
	"testing"
)

// row1K is a 1 KiB result row as text: ids, timestamps, amounts, free text,
// and one address, as content detectors see a row of a customers table.
var row1K = func() []byte {
	row := "42\t2024-01-15 10:30:45.123456+00\tORD-2024-000123456\t129.99\tEUR\t" +
		"550e8400-e29b-41d4-a716-446655440000\tshipped\t+1 (415) 555-2671\t" +
		"Customer asked to change the delivery address; see ticket 88123 and the note from support. " +
		"Contact alice.smith@example.com for questions about invoice INV-4111-2024. "
	for len(row) < 1024 {
		row += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, v1.2.3 build 20240115. "
	}
	return []byte(row[:1024])
}()

// BenchmarkDetect: all detectors on a 1 KiB row, then each alone.
func BenchmarkDetect(b *testing.B) {
	sets := map[string][]Detector{"all": Detectors()}
	for _, d := range Detectors() {
		sets[string(d)] = []Detector{d}
	}
	for _, name := range append([]string{"all"}, detectorNames()...) {
		b.Run(name, func(b *testing.B) {
			ds := sets[name]
			b.SetBytes(int64(len(row1K)))
			b.ReportAllocs()
			for b.Loop() {
				Detect(ds, row1K)
			}
		})
	}
}

func detectorNames() []string {
	var names []string
	for _, d := range Detectors() {
		names = append(names, string(d))
	}
	return names
}

func BenchmarkDetectNoFinds(b *testing.B) {
	ds := Detectors()
	row := []byte(strings.Replace(string(row1K), "alice.smith@example.com", "alice.smith at example", 1))
	b.SetBytes(int64(len(row)))
	b.ReportAllocs()
	for b.Loop() {
		Detect(ds, row)
	}
}

func BenchmarkRedact(b *testing.B) {
	ds := Detectors()
	b.SetBytes(int64(len(row1K)))
	b.ReportAllocs()
	for b.Loop() {
		Redact(ds, row1K)
	}
}

func BenchmarkAppendText(b *testing.B) {
	m, err := NewMasker(testKey)
	if err != nil {
		b.Fatal(err)
	}
	value := []byte("alice.smith@example.com")
	for _, fn := range Funcs() {
		b.Run(string(fn), func(b *testing.B) {
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				buf, _, _ = m.AppendText(buf[:0], fn, value)
			}
		})
	}
}
