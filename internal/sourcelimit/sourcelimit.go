// Package sourcelimit limits, per source address, the attempts that do
// not succeed: unauthenticated SSH connections at the bastion, refused
// requests at the certificate API. Each is recorded, and the spool is
// shared, so a client that could make them without end could fill it and,
// with recording.fail_closed, shut everyone out.
//
// A Limiter is a token bucket per source. A source spends a token for
// each attempt it begins and gets it back when the attempt succeeds, so
// only what fails, or never finishes, costs. It also bounds how many
// attempts, from all sources, may be pending at once. Refusals are
// counted per source, for one record per source and report, instead of
// one per attempt.
package sourcelimit

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Why an attempt was refused.
const (
	OverRate        = "rate"        // its source used up its attempts
	OverConcurrency = "concurrency" // too many attempts are pending
)

// MaxSources bounds the table of sources. When it is full of sources
// that are still paying off their attempts, the sources not in it share
// one bucket (Overflow): memory stays bounded, and a spread-out attack
// slows new sources down rather than getting through unmetered.
const MaxSources = 10000

// Overflow is the key shared by sources the full table cannot hold and
// by addresses that are not IP (they cannot be told apart).
var Overflow = netip.Prefix{}

// Limiter is safe for concurrent use. Create it with New.
type Limiter struct {
	perMinute  int // tokens a source earns a minute, and the most it holds
	maxPending int
	now        func() time.Time

	mu      sync.Mutex
	sources map[netip.Prefix]*bucket
	pending int // admitted attempts that have not ended
}

type bucket struct {
	tokens float64
	last   time.Time // when tokens was computed
	// refusals since the last report, by OverRate or OverConcurrency.
	refused      map[string]int
	first, final time.Time // of those refusals
}

// New returns a Limiter allowing each source perMinute attempts a minute
// (and as many at once), and at most maxPending pending attempts in all.
// now is the clock; nil means time.Now.
func New(perMinute, maxPending int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{perMinute: perMinute, maxPending: maxPending, now: now, sources: map[netip.Prefix]*bucket{}}
}

// Limits returns the limits New was given.
func (l *Limiter) Limits() (perMinute, maxPending int) { return l.perMinute, l.maxPending }

// Source is the key of a client's "host:port" address: the IPv4 address,
// or the IPv6 /64 (one host is usually given a whole /64, so a single
// address would let it mint unlimited sources). Anything else is
// Overflow.
func Source(hostport string) netip.Prefix {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return Overflow
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// Name is how a record names a source: its IPv4 address, an IPv6 /64 as
// a prefix, and Overflow as such.
func Name(src netip.Prefix) string {
	switch {
	case src == Overflow:
		return "other sources (the table of sources was full, or the address is not IP)"
	case src.Addr().Is4():
		return src.Addr().String()
	default:
		return src.String()
	}
}

// Admit decides on a new attempt from src. It returns "" and takes a
// token and a pending place, to be given back with Succeeded or Failed;
// or it says why the attempt is refused (OverRate, OverConcurrency) and
// counts the refusal for the next report.
func (l *Limiter) Admit(src netip.Prefix) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket(src, now)
	why := ""
	switch {
	case b.tokens < 1:
		why = OverRate
	case l.pending >= l.maxPending:
		why = OverConcurrency
	}
	if why != "" {
		if len(b.refused) == 0 {
			b.refused, b.first = map[string]int{}, now
		}
		b.refused[why]++
		b.final = now
		return why
	}
	b.tokens--
	l.pending++
	return ""
}

// Succeeded ends an admitted attempt that succeeded: src gets its token
// back.
func (l *Limiter) Succeeded(src netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending--
	if b, ok := l.sources[src]; ok {
		b.tokens = min(b.tokens+1, float64(l.perMinute))
	}
}

// Failed ends an admitted attempt that did not succeed; its token stays
// spent.
func (l *Limiter) Failed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending--
}

// Pending is how many admitted attempts have not ended.
func (l *Limiter) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// bucket returns src's bucket, refilled up to now; l.mu is held.
func (l *Limiter) bucket(src netip.Prefix, now time.Time) *bucket {
	b, ok := l.sources[src]
	if !ok {
		if len(l.sources) >= MaxSources {
			l.evictIdle(now)
		}
		if len(l.sources) >= MaxSources {
			src = Overflow
			b, ok = l.sources[src]
		}
		if !ok {
			b = &bucket{tokens: float64(l.perMinute), last: now}
			l.sources[src] = b
		}
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.tokens+elapsed.Minutes()*float64(l.perMinute), float64(l.perMinute))
		b.last = now
	}
	return b
}

// evictIdle forgets the sources whose buckets have refilled and that
// have no refusal left to report: keeping them would change nothing.
// l.mu is held.
func (l *Limiter) evictIdle(now time.Time) {
	for src, b := range l.sources {
		// An empty bucket refills in a minute.
		if len(b.refused) == 0 && now.Sub(b.last) >= time.Minute {
			delete(l.sources, src)
		}
	}
}

// Refused is one source's refused attempts since the last report.
type Refused struct {
	Source       netip.Prefix
	Count        map[string]int // by OverRate, OverConcurrency
	First, Final time.Time
}

// TakeRefusals returns the refusals counted since the last call, by
// source, oldest first, and forgets idle sources.
func (l *Limiter) TakeRefusals() []Refused {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Refused
	for src, b := range l.sources {
		if len(b.refused) > 0 {
			out = append(out, Refused{Source: src, Count: b.refused, First: b.first, Final: b.final})
			b.refused = nil
		}
	}
	l.evictIdle(l.now())
	slices.SortFunc(out, func(a, b Refused) int { return a.First.Compare(b.First) })
	return out
}

// Report is what a record of refused attempts says about one source;
// records embed it beside the limits in force.
type Report struct {
	Source          string    `json:"source"` // Name of the source
	OverRate        int       `json:"over_rate,omitempty"`
	OverConcurrency int       `json:"over_concurrency,omitempty"`
	First           time.Time `json:"first"` // UTC
	Last            time.Time `json:"last"`
}

// Report describes r for a record.
func (r Refused) Report() Report {
	return Report{Source: Name(r.Source), OverRate: r.Count[OverRate], OverConcurrency: r.Count[OverConcurrency],
		First: r.First.UTC(), Last: r.Final.UTC()}
}

// ReportEvery calls record for each source's refusals every interval
// until ctx ends. Flush reports what is left.
func (l *Limiter) ReportEvery(ctx context.Context, interval time.Duration, record func(Report)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			l.Flush(record)
		}
	}
}

// Flush calls record for each source's refusals since the last report.
func (l *Limiter) Flush(record func(Report)) {
	for _, r := range l.TakeRefusals() {
		record(r.Report())
	}
}
