package bastion

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Why a connection was refused before any SSH byte was exchanged.
const (
	overRate        = "rate"        // its source used up its attempts
	overConcurrency = "concurrency" // too many connections are unauthenticated
)

// maxAuthTries is how many authentication attempts one connection may
// make (x/crypto's default, and OpenSSH's MaxAuthTries, made explicit):
// with the per-source limit it bounds how many auth.failure events a
// source can cause a minute.
const maxAuthTries = 6

// maxSources bounds the table of sources. When it is full of sources
// that are still paying off their attempts, the sources not in it share
// one bucket (overflowSource): memory stays bounded, and a spread-out
// attack slows new sources down rather than getting through unmetered.
const maxSources = 10000

// overflowSource is the key shared by sources the full table cannot hold
// and by connections whose address is not IP (they cannot be told apart).
var overflowSource = netip.Prefix{}

// sourceLimiter is a token bucket per source of connections, and a count
// of connections still unauthenticated. A source spends a token for each
// connection it opens and gets it back when that connection
// authenticates, so only what fails, or never finishes, costs: a client
// that cannot authenticate gets perMinute connections a minute, and the
// recording of each (session.start, at most a handful of auth.failure,
// session.end) stays bounded.
type sourceLimiter struct {
	perMinute int // tokens a source earns a minute, and the most it holds
	maxUnauth int
	now       func() time.Time

	mu      sync.Mutex
	sources map[netip.Prefix]*sourceBucket
	unauth  int // admitted connections not yet authenticated or closed
}

type sourceBucket struct {
	tokens float64
	last   time.Time // when tokens was computed
	// refusals since the last report, by overRate or overConcurrency.
	refused      map[string]int
	first, final time.Time // of those refusals
}

func newSourceLimiter(perMinute, maxUnauth int, now func() time.Time) *sourceLimiter {
	return &sourceLimiter{perMinute: perMinute, maxUnauth: maxUnauth, now: now, sources: map[netip.Prefix]*sourceBucket{}}
}

// sourceOf is the key of a client address: the IPv4 address, or the
// IPv6 /64 (one host is usually given a whole /64, so a single address
// would let it mint unlimited sources).
func sourceOf(addr net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return overflowSource
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// admit decides on a new connection from src. It returns "" and takes a
// token and a place among the unauthenticated, or says why the
// connection is refused and counts the refusal for the next report.
func (l *sourceLimiter) admit(src netip.Prefix) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket(src, now)
	why := ""
	switch {
	case b.tokens < 1:
		why = overRate
	case l.unauth >= l.maxUnauth:
		why = overConcurrency
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
	l.unauth++
	return ""
}

// authenticated gives src its token back and frees the place of the
// connection among the unauthenticated.
func (l *sourceLimiter) authenticated(src netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unauth--
	if b, ok := l.sources[src]; ok {
		b.tokens = min(b.tokens+1, float64(l.perMinute))
	}
}

// closedUnauthenticated frees the place of a connection that ended
// before it authenticated; its token stays spent.
func (l *sourceLimiter) closedUnauthenticated() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unauth--
}

// bucket returns src's bucket, refilled up to now; l.mu is held.
func (l *sourceLimiter) bucket(src netip.Prefix, now time.Time) *sourceBucket {
	b, ok := l.sources[src]
	if !ok {
		if len(l.sources) >= maxSources {
			l.evictIdle(now)
		}
		if len(l.sources) >= maxSources {
			src = overflowSource
			b, ok = l.sources[src]
		}
		if !ok {
			b = &sourceBucket{tokens: float64(l.perMinute), last: now}
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
func (l *sourceLimiter) evictIdle(now time.Time) {
	full := time.Minute // an empty bucket refills in a minute
	for src, b := range l.sources {
		if len(b.refused) == 0 && now.Sub(b.last) >= full {
			delete(l.sources, src)
		}
	}
}

// throttled is one source's refused connections since the last report.
type throttled struct {
	Source       netip.Prefix
	Refused      map[string]int
	First, Final time.Time
}

// takeRefusals returns the refusals counted since the last call, by
// source, and forgets idle sources.
func (l *sourceLimiter) takeRefusals() []throttled {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []throttled
	for src, b := range l.sources {
		if len(b.refused) > 0 {
			out = append(out, throttled{Source: src, Refused: b.refused, First: b.first, Final: b.final})
			b.refused = nil
		}
	}
	l.evictIdle(l.now())
	slices.SortFunc(out, func(a, b throttled) int { return a.First.Compare(b.First) })
	return out
}
