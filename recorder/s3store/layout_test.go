package s3store

import (
	"strings"
	"testing"
)

func TestLayout(t *testing.T) {
	const id = "20261126T030000Z-8b38b4d9d91e"
	p, err := Prefix("sessions", id)
	if err != nil || p != "sessions/2026/11/26/"+id+"/" {
		t.Fatalf("Prefix = %q, %v", p, err)
	}
	chunk, _ := ChunkKey("sessions", id, 0)
	if chunk != "sessions/2026/11/26/"+id+"/000000.jsonl" {
		t.Errorf("ChunkKey 0 = %q", chunk)
	}
	if k, _ := ChunkKey("ca", id, 12); k != "ca/2026/11/26/"+id+"/000012.jsonl" {
		t.Errorf("ChunkKey 12 = %q", k)
	}
	m, _ := ManifestKey("ca", "20260101T235959Z-000000000001")
	if m != "ca/2026/01/01/20260101T235959Z-000000000001/manifest.json" {
		t.Errorf("ManifestKey = %q", m)
	}
	for _, key := range []string{chunk, m} {
		kind, gotID, name, ok := ParseKey(key)
		if !ok || gotID == "" || !strings.HasSuffix(key, "/"+gotID+"/"+name) || !strings.HasPrefix(key, kind+"/") {
			t.Errorf("ParseKey(%q) = %q %q %q %v", key, kind, gotID, name, ok)
		}
	}
	for _, bad := range []string{
		"sessions/2026/11/27/" + id + "/000000.jsonl", // another day than the id's
		"sessions/2026/11/26/" + id + "/00000.jsonl",
		"sessions/2026/11/26/" + id + "/notes.txt",
		"sessions/2026/11/26/" + id,
		"sessions/" + id + "/manifest.json",
	} {
		if _, _, _, ok := ParseKey(bad); ok {
			t.Errorf("ParseKey accepted %q", bad)
		}
	}
	for _, bad := range [][2]string{{"sessions", "../x"}, {"sessions", "a/b"}, {"", id}, {"sessions", "no-time-here"}} {
		if p, err := Prefix(bad[0], bad[1]); err == nil {
			t.Errorf("Prefix(%q, %q) = %q, want an error", bad[0], bad[1], p)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in     string
		host   string
		secure bool
		ok     bool
	}{
		{"s3.amazonaws.com", "s3.amazonaws.com", true, true},
		{"http://127.0.0.1:9000", "127.0.0.1:9000", false, true},
		{"https://minio:9000/", "minio:9000", true, true},
		{"ftp://x", "", false, false},
		{"http://x/bucket", "", false, false},
		{"", "", false, false},
	}
	for _, tt := range tests {
		host, secure, err := parseEndpoint(tt.in)
		if (err == nil) != tt.ok || host != tt.host || secure != tt.secure {
			t.Errorf("parseEndpoint(%q) = %q %v %v", tt.in, host, secure, err)
		}
	}
}
