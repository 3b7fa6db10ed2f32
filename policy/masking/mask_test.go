package masking

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var testKey = bytes.Repeat([]byte{0x5a}, 32)

func newTestMasker(t testing.TB) *Masker {
	t.Helper()
	m, err := NewMasker(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTextRedact(t *testing.T) {
	m := newTestMasker(t)
	for _, in := range []string{"", "x", "alice@example.com", "4111111111111111", "日本語のテキスト", strings.Repeat("secret", 1<<16), "\x00\xff"} {
		got, isNull, err := m.Text(FuncRedact, []byte(in))
		if err != nil || isNull || string(got) != "****" {
			t.Errorf("redact(%.20q) = %q, %v, %v; want \"****\"", in, got, isNull, err)
		}
	}
}

func TestTextEmail(t *testing.T) {
	m := newTestMasker(t)
	for _, tc := range []struct{ in, want string }{
		{"alice@example.com", "a***@example.com"},
		{"Alice.Smith+tag@Mail.Example.CO.UK", "A***@Mail.Example.CO.UK"},
		{"a@b.co", "a***@b.co"},                    // a one-character local part is the format's known cost
		{"bob@example.com   ", "b***@example.com"}, // bpchar padding
		{"élodie@exemple.fr", "é***@exemple.fr"},
		{"用户@例子.广告", "用***@例子.广告"},
		{"ivan@пример.рф", "i***@пример.рф"},
		{"user@example.xn--p1ai", "u***@example.xn--p1ai"},
		{"o'brien@sub-domain.example.io", "o***@sub-domain.example.io"},
		{strings.Repeat("l", 64) + "@example.com", "l***@example.com"},
		// Not email addresses: redacted.
		{"", "****"},
		{"alice", "****"},
		{"alice@", "****"},
		{"@example.com", "****"},
		{"alice@localhost", "****"},
		{"a@b@example.com", "****"},
		{"alice smith@example.com", "****"},
		{"alice@exa mple.com", "****"},
		{"alice@example.c0m", "****"},
		{"alice@example.c", "****"},
		{"alice@-example.com", "****"},
		{"alice@example-.com", "****"},
		{"alice@example..com", "****"},
		{"alice@example.com.", "****"},
		{"alice@192.168.0.1", "****"},
		{"alice@[192.168.0.1]", "****"},
		{"\xffalice@example.com", "****"},
		{"alice@ex\xffample.com", "****"},
		{"tab\t@example.com", "****"},
		{strings.Repeat("l", 65) + "@example.com", "****"},
		{"a@" + strings.Repeat("d", 64) + ".com", "****"},
		{"a@" + strings.Repeat("d.", 126) + "com", "****"}, // domain over 253 bytes
		{strings.Repeat("x", 1<<20), "****"},
	} {
		got, isNull, err := m.Text(FuncEmail, []byte(tc.in))
		if err != nil || isNull || string(got) != tc.want {
			t.Errorf("email(%.40q) = %q, %v, %v; want %q", tc.in, got, isNull, err, tc.want)
		}
	}
}

func TestTextLast4(t *testing.T) {
	m := newTestMasker(t)
	long := strings.Repeat("9", 1<<20)
	for _, tc := range []struct{ in, want string }{
		{"4242424242424242", "************4242"},
		{"4242 4242 4242 4242", "**** **** **** 4242"},
		{"4242-4242-4242-4242", "****-****-****-4242"},
		{"378282246310005", "***********0005"},
		{"123-45-6789", "***-**-6789"},
		{"+1 (555) 123-4567", "+* (***) ***-4567"},
		{"12345678", "****5678"},
		{"DE89 3704 0044 0532 0130 00", "**** **** **** **** **30 00"},
		// Fewer than eight characters: nothing shown.
		{"", ""},
		{"1", "*"},
		{"1234", "****"},
		{"1234567", "*******"},
		{"555-0100", "***-****"},
		{"----", "----"},
		// Characters are runes; invalid bytes count one each.
		{"ÄÖÜäöüßabc", "******ßabc"},
		{"日本語のテキストです", "******ストです"},
		{"\xff\xfe\xfd12345678", "*******5678"},
		{long, strings.Repeat("*", len(long)-4) + "9999"},
	} {
		got, isNull, err := m.Text(FuncLast4, []byte(tc.in))
		if err != nil || isNull || string(got) != tc.want {
			t.Errorf("last4(%.40q) = %.40q, %v, %v; want %.40q", tc.in, got, isNull, err, tc.want)
		}
		if utf8.RuneCount(got) != utf8.RuneCountInString(tc.in) {
			t.Errorf("last4(%.40q) has %d characters, want %d", tc.in, utf8.RuneCount(got), utf8.RuneCountInString(tc.in))
		}
	}
}

func TestTextNull(t *testing.T) {
	m := newTestMasker(t)
	for _, in := range []string{"", "x", "alice@example.com"} {
		got, isNull, err := m.Text(FuncNull, []byte(in))
		if err != nil || !isNull || got != nil {
			t.Errorf("null(%q) = %q, %v, %v; want nil, true, nil", in, got, isNull, err)
		}
	}
}

func TestTextUnknownFunc(t *testing.T) {
	m := newTestMasker(t)
	for _, fn := range []Func{"", "scramble", "REDACT", "Hash"} {
		if _, _, err := m.Text(fn, []byte("x")); !errors.Is(err, ErrUnknownFunc) {
			t.Errorf("Text(%q): err = %v, want ErrUnknownFunc", fn, err)
		}
		if _, _, err := m.Binary(fn, oidText, []byte("x")); !errors.Is(err, ErrUnknownFunc) {
			t.Errorf("Binary(%q): err = %v, want ErrUnknownFunc", fn, err)
		}
		if _, err := ParseFunc(string(fn)); !errors.Is(err, ErrUnknownFunc) {
			t.Errorf("ParseFunc(%q): err = %v, want ErrUnknownFunc", fn, err)
		}
	}
	for _, fn := range Funcs() {
		if got, err := ParseFunc(string(fn)); err != nil || got != fn {
			t.Errorf("ParseFunc(%q) = %q, %v", fn, got, err)
		}
	}
}

func hashOf(t *testing.T, m *Masker, value string) string {
	t.Helper()
	got, isNull, err := m.Text(FuncHash, []byte(value))
	if err != nil || isNull {
		t.Fatalf("hash(%q): %v, %v", value, isNull, err)
	}
	return string(got)
}

func TestTextHash(t *testing.T) {
	m := newTestMasker(t)
	for _, in := range []string{"", "+1 555 0100", "日本語", strings.Repeat("z", 1<<20), "\x00\xff"} {
		got := hashOf(t, m, in)
		mac := hmac.New(sha256.New, testKey)
		mac.Write([]byte(in))
		want := "h:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		if got != want || len(got) != HashLen {
			t.Errorf("hash(%.20q) = %q, want HMAC-SHA256 %q of length %d", in, got, want, HashLen)
		}
	}
}

func TestHashStableAndKeyed(t *testing.T) {
	m1 := newTestMasker(t)
	m2 := newTestMasker(t) // another session, same key
	if a, b := hashOf(t, m1, "+1 555 0100"), hashOf(t, m2, "+1 555 0100"); a != b {
		t.Errorf("same key, same value: %q and %q differ", a, b)
	}
	if a, b := hashOf(t, m1, "+1 555 0100"), hashOf(t, m1, "+1 555 0101"); a == b {
		t.Errorf("different values hash alike: %q", a)
	}
	other, err := NewMasker(bytes.Repeat([]byte{0xa5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := hashOf(t, m1, "+1 555 0100"), hashOf(t, other, "+1 555 0100"); a == b {
		t.Errorf("different keys hash alike: %q", a)
	}
	// Text and binary text formats hash alike, so joins work across formats.
	bin, _, err := m1.Binary(FuncHash, oidVarchar, []byte("+1 555 0100"))
	if err != nil || string(bin) != hashOf(t, m1, "+1 555 0100") {
		t.Errorf("binary varchar hash = %q, %v; want the text hash", bin, err)
	}
}

func TestHashKeyRequired(t *testing.T) {
	for _, key := range [][]byte{nil, {}, make([]byte, 31)} {
		if _, err := NewMasker(key); err == nil {
			t.Errorf("NewMasker(%d bytes) accepted", len(key))
		}
	}
	var zero Masker
	if _, _, err := zero.Text(FuncHash, []byte("x")); !errors.Is(err, ErrNoHashKey) {
		t.Errorf("zero Masker hash: err = %v, want ErrNoHashKey", err)
	}
	if _, _, err := zero.Binary(FuncHash, 23, []byte{0, 0, 0, 1}); !errors.Is(err, ErrNoHashKey) {
		t.Errorf("zero Masker binary hash of int4: err = %v, want ErrNoHashKey", err)
	}
	if got, _, err := zero.Text(FuncRedact, []byte("x")); err != nil || string(got) != "****" {
		t.Errorf("zero Masker redact = %q, %v", got, err)
	}
	// The key is copied: changing the caller's slice changes nothing.
	key := bytes.Clone(testKey)
	m, err := NewMasker(key)
	if err != nil {
		t.Fatal(err)
	}
	before := hashOf(t, m, "v")
	key[0] ^= 1
	if after := hashOf(t, m, "v"); after != before {
		t.Errorf("hash changed with the caller's key slice")
	}
}

func TestHashConcurrent(t *testing.T) {
	m := newTestMasker(t)
	want := hashOf(t, m, "value")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				got, _, err := m.Text(FuncHash, []byte("value"))
				if err != nil || string(got) != want {
					t.Errorf("concurrent hash = %q, %v; want %q", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestBinary(t *testing.T) {
	m := newTestMasker(t)
	textTypes := map[string]uint32{"text": 25, "varchar": 1043, "bpchar": 1042, "name": 19, "unknown": 705}
	otherTypes := map[string]uint32{
		"bool": 16, "bytea": 17, "char": 18, "int8": 20, "int2": 21, "int4": 23, "oid": 26,
		"json": 114, "xml": 142, "float4": 700, "float8": 701, "inet": 869, "date": 1082,
		"time": 1083, "timestamp": 1114, "timestamptz": 1184, "interval": 1186, "numeric": 1700,
		"uuid": 2950, "jsonb": 3802, "text[]": 1009, "unspecified": 0, "citext-like": 16385,
	}
	values := map[uint32][]byte{ // binary values of the type, as sent upstream
		16: {1}, 17: []byte("\x00secret"), 18: {'x'}, 20: {0, 0, 0, 0, 0, 0, 0, 42}, 21: {0, 42},
		23: {0, 0, 0, 42}, 2950: bytes.Repeat([]byte{7}, 16), 3802: []byte("\x01{\"ssn\":\"123-45-6789\"}"),
		114: []byte(`"alice@example.com"`),
	}
	for _, fn := range Funcs() {
		for name, oid := range textTypes {
			in := []byte("alice@example.com")
			got, isNull, err := m.Binary(fn, oid, in)
			want, wantNull, _ := m.Text(fn, in)
			if err != nil || isNull != wantNull || !bytes.Equal(got, want) {
				t.Errorf("Binary(%s, %s) = %q, %v, %v; want Text's %q, %v", fn, name, got, isNull, err, want, wantNull)
			}
			if !BinaryIsText(oid) {
				t.Errorf("BinaryIsText(%s) = false", name)
			}
		}
		for name, oid := range otherTypes {
			in, ok := values[oid]
			if !ok {
				in = []byte("\x00\x01\x02\x03")
			}
			got, isNull, err := m.Binary(fn, oid, in)
			if err != nil || !isNull || got != nil {
				t.Errorf("Binary(%s, %s) = %q, %v, %v; want NULL", fn, name, got, isNull, err)
			}
			if BinaryIsText(oid) {
				t.Errorf("BinaryIsText(%s) = true", name)
			}
		}
	}
}

func TestAppendReusesBuffer(t *testing.T) {
	m := newTestMasker(t)
	buf, in := make([]byte, 0, 256), []byte("alice.smith@example.com")
	for _, fn := range []Func{FuncRedact, FuncEmail, FuncLast4} {
		allocs := testing.AllocsPerRun(100, func() {
			buf, _, _ = m.AppendText(buf[:0], fn, in)
		})
		if allocs != 0 {
			t.Errorf("AppendText(%s) allocates %.0f times per value, want 0", fn, allocs)
		}
	}
	out, _, err := m.AppendText([]byte("prefix:"), FuncRedact, []byte("x"))
	if err != nil || string(out) != "prefix:****" {
		t.Errorf("AppendText kept %q, %v; want prefix:****", out, err)
	}
	out, isNull, err := m.AppendBinary([]byte("prefix:"), FuncNull, oidText, []byte("x"))
	if err != nil || !isNull || string(out) != "prefix:" {
		t.Errorf("AppendBinary null = %q, %v, %v; want dst unchanged", out, isNull, err)
	}
}

func TestLast4ASCIIFastPathRefusesOtherText(t *testing.T) {
	if out, ok := appendLast4ASCII([]byte("x"), []byte("4242 4242 4242 424²")); ok || string(out) != "x" {
		t.Fatalf("non-ASCII value taken by the ASCII path: %q, %v", out, ok)
	}
}

// TestLast4ASCIIFastPath: the byte-by-byte path for ASCII values gives what
// the rune-by-rune path gives.
func TestLast4ASCIIFastPath(t *testing.T) {
	for _, v := range []string{"", "1", "1234567", "12345678", "4242 4242 4242 4242", "+1 (555) 010-0199", "abc-def.ghi/jk", "----", "\x00\x7f12345678"} {
		fastb, ok := appendLast4ASCII(nil, []byte(v))
		fast, slow := string(fastb), string(appendLast4Runes(nil, []byte(v)))
		if !ok || fast != slow {
			t.Errorf("%q: ASCII path %q, rune path %q", v, fast, slow)
		}
	}
}
