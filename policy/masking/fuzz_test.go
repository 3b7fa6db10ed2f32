package masking

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzDetect: Detect never panics, its finds lie within the text, in order
// and without overlap, and Redact leaves nothing the same detectors (each
// alone, and all together) would flag again.
func FuzzDetect(f *testing.F) {
	for _, s := range falsePositives {
		f.Add([]byte(s))
	}
	f.Add([]byte("mail alice@example.com, card 4111 1111 1111 1111, ssn 123-45-6789"))
	f.Add([]byte("iban DE89 3704 0044 0532 0130 00 key AKIAIOSFODNN7EXAMPLE jwt " + jwtIO))
	f.Fuzz(func(t *testing.T, text []byte) {
		sets := [][]Detector{Detectors()}
		for _, d := range Detectors() {
			sets = append(sets, []Detector{d})
		}
		orig := bytes.Clone(text)
		for _, ds := range sets {
			end := 0
			for _, m := range Detect(ds, text) {
				if m.Start < end || m.End <= m.Start || m.End > len(text) || !containsDetector(ds, m.Detector) {
					t.Fatalf("Detect(%v, %q): bad find %+v after offset %d", ds, text, m, end)
				}
				end = m.End
			}
			out := Redact(ds, text)
			if again := Detect(ds, out); len(again) > 0 {
				t.Fatalf("Redact(%v, %q) = %q, which still holds %v", ds, text, out, again)
			}
		}
		if !bytes.Equal(text, orig) {
			t.Fatalf("Detect or Redact changed its input")
		}
	})
}

func containsDetector(ds []Detector, d Detector) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// FuzzMaskText: no mask function panics, and each keeps its promise on any
// value: redact and hash reveal nothing of it, email keeps at most its first
// character and its domain, last4 keeps its length and at most four
// characters, null is NULL; binary text types mask as text does.
func FuzzMaskText(f *testing.F) {
	for _, s := range []string{"", "alice@example.com", "4242 4242 4242 4242", "用户@例子.广告", "\xff@a.bc", "a@b@c.de"} {
		f.Add([]byte(s))
	}
	m, err := NewMasker(testKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, fn := range Funcs() {
			got, isNull, err := m.Text(fn, value)
			if err != nil {
				t.Fatalf("%s(%q): %v", fn, value, err)
			}
			if isNull != (fn == FuncNull) || isNull && got != nil {
				t.Fatalf("%s(%q) = %q, isNull %v", fn, value, got, isNull)
			}
			bin, binNull, err := m.Binary(fn, oidVarchar, value)
			if err != nil || binNull != isNull || !bytes.Equal(bin, got) {
				t.Fatalf("Binary(%s, varchar, %q) = %q, %v, %v; Text gave %q", fn, value, bin, binNull, err, got)
			}
			checkMask(t, fn, value, got)
		}
	})
}

func checkMask(t *testing.T, fn Func, value, got []byte) {
	t.Helper()
	switch fn {
	case FuncRedact:
		if string(got) != redacted {
			t.Fatalf("redact(%q) = %q", value, got)
		}
	case FuncHash:
		if len(got) != HashLen || !bytes.HasPrefix(got, []byte(hashPrefix)) {
			t.Fatalf("hash(%q) = %q", value, got)
		}
	case FuncEmail:
		if string(got) == redacted {
			return
		}
		first, domain, ok := bytes.Cut(got, []byte("***@"))
		if !ok || utf8.RuneCount(first) != 1 || !bytes.HasPrefix(value, first) ||
			!bytes.HasSuffix(bytes.TrimRight(value, " "), append([]byte("@"), domain...)) {
			t.Fatalf("email(%q) = %q", value, got)
		}
	case FuncLast4:
		if utf8.RuneCount(got) != utf8.RuneCount(value) {
			t.Fatalf("last4(%q) = %q: length changed", value, got)
		}
		shown := 0
		for _, r := range string(got) {
			if r != '*' && !isLast4Separator(r) {
				shown++
			}
		}
		if shown > last4Shown {
			t.Fatalf("last4(%q) = %q shows %d characters", value, got, shown)
		}
	}
}

// FuzzEmailPartsASCII: the one-pass path for ASCII values decides as the
// general one does.
func FuzzEmailPartsASCII(f *testing.F) {
	for _, s := range []string{"alice@example.com", "a@b.c", "a b@c.de", "a@@b.de", "@b.de", "a@-b.de", "a@b-.de",
		"a@b..de", "a@xn--p1ai", "a@b.de.", "a@b.d3", "x@y.zz   ", "\x7f@b.de", "a@b.de@c.fr"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		l1, d1, ok1, ascii := emailPartsASCII(value)
		if !ascii {
			return
		}
		l2, d2, ok2 := emailPartsAny(value)
		if ok1 != ok2 || ok1 && (!bytes.Equal(l1, l2) || !bytes.Equal(d1, d2)) {
			t.Fatalf("%q: ASCII path %q %q %v, general path %q %q %v", value, l1, d1, ok1, l2, d2, ok2)
		}
	})
}

// FuzzLast4ASCII: the byte-by-byte path for ASCII values gives what the
// rune-by-rune path gives.
func FuzzLast4ASCII(f *testing.F) {
	for _, s := range []string{"4242424242424242", "4242 4242-4242.4242", "(415) 555-2671", "1234567", "12345678", "", "+", "ab/cd"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		fast, ok := appendLast4ASCII([]byte("x"), value)
		if !ok {
			return
		}
		if slow := appendLast4Runes([]byte("x"), value); !bytes.Equal(fast, slow) {
			t.Fatalf("%q: ASCII path %q, rune path %q", value, fast, slow)
		}
	})
}
