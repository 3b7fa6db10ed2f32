package main

import (
	"math"
	"strings"
	"testing"
)

const exposition = `# HELP gatehouse_recorder_commit_duration_seconds Time the recording journal's group commit takes.
# TYPE gatehouse_recorder_commit_duration_seconds histogram
gatehouse_recorder_commit_duration_seconds_bucket{le="0.0001"} 10
gatehouse_recorder_commit_duration_seconds_bucket{le="0.0004"} 900
gatehouse_recorder_commit_duration_seconds_bucket{le="0.0016"} 980
gatehouse_recorder_commit_duration_seconds_bucket{le="+Inf"} 1000
gatehouse_recorder_commit_duration_seconds_sum 0.4
gatehouse_recorder_commit_duration_seconds_count 1000
gatehouse_recorder_commit_records_bucket{le="1"} 7
`

func TestCommitHistogram(t *testing.T) {
	before, err := parseCommits(strings.NewReader(strings.ReplaceAll(exposition, "} 980", "} 480")))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseCommits(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if len(after.bounds) != 4 || !math.IsInf(after.bounds[3], 1) || after.total() != 1000 {
		t.Fatalf("parsed %+v", after)
	}
	if got, want := after.String(), "1000 group commits; > 0.1 ms 99.00 %, > 0.4 ms 10.00 %, > 1.6 ms 2.00 %"; got != want {
		t.Errorf("String = %q; want %q", got, want)
	}
	d := after.since(before)
	if d == nil || d.counts[2] != 500 || d.total() != 0 {
		t.Errorf("since = %+v", d)
	}
	if _, err := parseCommits(strings.NewReader("other_metric 1\n")); err == nil {
		t.Error("an exposition without the histogram was read")
	}
	if _, err := parseCommits(strings.NewReader(commitMetric + `x"} 1` + "\n")); err == nil {
		t.Error("a bucket with no number was read")
	}
}
