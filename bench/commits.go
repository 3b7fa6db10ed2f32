package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// commitHistogram is gatehouse's gatehouse_recorder_commit_duration_seconds
// as its ops endpoint serves it: cumulative counts by upper bound. The
// 1-agent p99 target is set against what one statement waits for, one
// group commit; this says how long those commits took during the load,
// under the load's own writes, which the fsync probe run alone does not
// see.
type commitHistogram struct {
	bounds []float64 // seconds, ascending; the last is +Inf
	counts []float64 // cumulative
}

const commitMetric = "gatehouse_recorder_commit_duration_seconds_bucket{le=\""

// scrapeCommits reads the commit histogram from a gatehouse's ops
// endpoint; nil when url is empty.
func scrapeCommits(url string) (*commitHistogram, error) {
	if url == "" {
		return nil, nil
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("read gatehouse's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read gatehouse's metrics: %s", resp.Status)
	}
	return parseCommits(resp.Body)
}

// parseCommits takes the commit histogram's buckets out of a Prometheus
// text exposition.
func parseCommits(r io.Reader) (*commitHistogram, error) {
	h := &commitHistogram{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), commitMetric)
		if !ok {
			continue
		}
		le, count, ok := strings.Cut(rest, "\"} ")
		if !ok {
			return nil, fmt.Errorf("metrics: cannot read %q", sc.Text())
		}
		b, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(count, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("metrics: cannot read %q", sc.Text())
		}
		h.bounds, h.counts = append(h.bounds, b), append(h.counts, n)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(h.bounds) == 0 {
		return nil, fmt.Errorf("metrics: no %s… lines", commitMetric)
	}
	return h, nil
}

// since is the histogram of the commits made after before.
func (h *commitHistogram) since(before *commitHistogram) *commitHistogram {
	if h == nil || before == nil || len(h.counts) != len(before.counts) {
		return nil
	}
	d := &commitHistogram{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	for i := range h.counts {
		d.counts[i] = h.counts[i] - before.counts[i]
	}
	return d
}

// total is how many commits it counts.
func (h *commitHistogram) total() float64 { return h.counts[len(h.counts)-1] }

// String says how the commits were spread: the share above each bound.
func (h *commitHistogram) String() string {
	var parts []string
	for i, b := range h.bounds[:len(h.bounds)-1] {
		if h.total() > 0 {
			parts = append(parts, fmt.Sprintf("> %.1f ms %.2f %%", b*1000, 100*(1-h.counts[i]/h.total())))
		}
	}
	return fmt.Sprintf("%.0f group commits; %s", h.total(), strings.Join(parts, ", "))
}
