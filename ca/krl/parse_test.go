package krl

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// TestParseRevokes: what MarshalBinary writes, Parse reads back, and
// Revokes judges each certificate as ssh-keygen -Q would
// (TestKRLAgainstSSHKeygen checks the writer against it).
func TestParseRevokes(t *testing.T) {
	ca, otherCA := newSigner(t), newSigner(t)
	byKey := cert(t, ca, 3, "carol@example.com")
	k := KRL{
		Version: 4,
		Comment: "gatehouse",
		Certificates: []CertificateSection{
			{CA: ca.PublicKey(), Serials: []uint64{1001, 1 << 63}, KeyIDs: []string{"mallory@example.com"}},
		},
		SHA256: [][32]byte{KeyHash(byKey)},
	}
	data, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.Version != 4 || got.Comment != "gatehouse" {
		t.Errorf("header %d %q", got.Version, got.Comment)
	}
	cases := []struct {
		name string
		cert func() bool
		want bool
	}{
		{"listed serial", func() bool { return got.Revokes(cert(t, ca, 1001, "alice@example.com")) }, true},
		{"high serial", func() bool { return got.Revokes(cert(t, ca, 1<<63, "bob@example.com")) }, true},
		{"listed key id", func() bool { return got.Revokes(cert(t, ca, 77, "mallory@example.com")) }, true},
		{"listed key", func() bool { return got.Revokes(byKey) }, true},
		{"another serial", func() bool { return got.Revokes(cert(t, ca, 1002, "alice@example.com")) }, false},
		{"listed serial of another CA", func() bool { return got.Revokes(cert(t, otherCA, 1001, "alice@example.com")) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cert(); got != tc.want {
				t.Errorf("Revokes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	good, err := (&KRL{Certificates: []CertificateSection{{Serials: []uint64{5}}}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	withSection := func(typ byte, data []byte) []byte {
		return appendSection(bytes.Clone(good), typ, data)
	}
	serialRange := appendSection(appendString(appendString(nil, nil), nil), 0x21, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 1), 9))
	cases := []struct {
		name, data, want string
	}{
		{"empty", "", "bad magic"},
		{"bad magic", "SSHKRL\n\x01" + string(good[8:]), "bad magic"},
		{"truncated", string(good[:len(good)-3]), "truncated"},
		{"explicit key section", string(withSection(2, nil)), "section type 2"},
		{"serial range", string(withSection(sectionCertificates, serialRange)), "subsection type 0x21"},
		{"short fingerprint", string(withSection(sectionFingerprintSHA256, appendString(nil, []byte("abc")))), "3 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// FuzzParse: Parse never panics, and what it accepts it writes back to a
// KRL it reads the same.
func FuzzParse(f *testing.F) {
	for _, k := range []KRL{
		{},
		{Version: 2, Certificates: []CertificateSection{{Serials: []uint64{1, 2}, KeyIDs: []string{"a"}}}},
		{SHA256: [][32]byte{{1, 2, 3}}},
	} {
		b, err := k.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse(data)
		if err != nil {
			return
		}
		again, err := k.MarshalBinary()
		if err != nil {
			return // e.g. serial 0, which the writer refuses
		}
		k2, err := Parse(again)
		if err != nil {
			t.Fatalf("Parse of MarshalBinary's output: %v", err)
		}
		if k2.Version != k.Version || len(k2.SHA256) > len(k.SHA256) {
			t.Errorf("round trip changed the KRL: %+v → %+v", k, k2)
		}
	})
}
