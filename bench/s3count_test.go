package main

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestS3Kind(t *testing.T) {
	for _, tc := range []struct{ method, target, want string }{
		{"PUT", "/recordings/sessions/2026/12/05/ID/000000.jsonl", "PUT object"},
		{"HEAD", "/recordings/sessions/2026/12/05/ID/000000.jsonl", "HEAD object"},
		{"GET", "/recordings/sessions/2026/12/05/ID/manifest.json", "GET object"},
		{"GET", "/recordings/?list-type=2&prefix=sessions%2F", "list"},
		{"GET", "/recordings/?object-lock=", "get ?object-lock"},
		{"GET", "/recordings/sessions/x/000000.jsonl?retention=", "get ?retention"},
		{"PUT", "/recordings/big?partNumber=1&uploadId=u", "PUT part"},
		{"PUT", "/recordings", "PUT bucket"},
		{"HEAD", "/recordings/", "HEAD bucket"},
	} {
		if got := s3Kind(httptest.NewRequest(tc.method, tc.target, nil)); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
}

func TestS3CountsSince(t *testing.T) {
	before := s3Counts{"PUT object": {2, 2048}, "HEAD object": {2, 0}}
	after := s3Counts{"PUT object": {6, 6144}, "HEAD object": {2, 0}, "list": {1, 0}}
	got := after.since(before)
	want := s3Counts{"PUT object": {4, 4096}, "list": {1, 0}}
	if len(got) != len(want) || got["PUT object"] != want["PUT object"] || got["list"] != want["list"] {
		t.Fatalf("since = %v, want %v", got, want)
	}
	if s, w := got.perSecond(2*time.Second), "PUT object 2.0/s (avg 1 KiB), list 0.5/s"; s != w {
		t.Errorf("perSecond = %q, want %q", s, w)
	}
	if s := (s3Counts{}).perSecond(time.Second); s != "no request" {
		t.Errorf("no counts: %q", s)
	}
}
