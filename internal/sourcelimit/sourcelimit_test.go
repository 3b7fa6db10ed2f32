package sourcelimit

import (
	"net/netip"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)} }
func src(s string) netip.Prefix {
	return Source(netip.AddrPortFrom(netip.MustParseAddr(s), 40000).String())
}
func admitN(l *Limiter, p netip.Prefix, n int) (admitted int) {
	for range n {
		if l.Admit(p) == "" {
			admitted++
		}
	}
	return admitted
}

func TestSourceLimiter(t *testing.T) {
	a, b := src("192.0.2.1"), src("192.0.2.2")
	cases := []struct {
		name string
		run  func(l *Limiter, clock *fakeClock) (got, want int)
	}{
		{"a burst gets the limit and no more", func(l *Limiter, _ *fakeClock) (int, int) {
			return admitN(l, a, 50), 5
		}},
		{"another source has its own bucket", func(l *Limiter, _ *fakeClock) (int, int) {
			admitN(l, a, 50)
			closeAll(l, 5)
			return admitN(l, b, 50), 5
		}},
		{"a minute refills the bucket", func(l *Limiter, clock *fakeClock) (int, int) {
			admitN(l, a, 50)
			closeAll(l, 5)
			clock.add(time.Minute)
			return admitN(l, a, 50), 5
		}},
		{"a fifth of a minute earns one attempt", func(l *Limiter, clock *fakeClock) (int, int) {
			admitN(l, a, 50)
			closeAll(l, 5)
			clock.add(12 * time.Second)
			return admitN(l, a, 50), 1
		}},
		{"an attempt that succeeds is given back", func(l *Limiter, _ *fakeClock) (int, int) {
			for range 100 {
				if l.Admit(a) != "" {
					return 0, 1
				}
				l.Succeeded(a)
			}
			return admitN(l, a, 50), 5
		}},
		{"a failed one is not", func(l *Limiter, _ *fakeClock) (int, int) {
			admitN(l, a, 1)
			l.Failed()
			return admitN(l, a, 50), 4
		}},
		{"the addresses of one IPv6 /64 are one source", func(l *Limiter, _ *fakeClock) (int, int) {
			admitN(l, src("2001:db8:1:2::1"), 3)
			return admitN(l, src("2001:db8:1:2:ffff::9"), 50), 2
		}},
		{"an IPv4-mapped IPv6 address is its IPv4 address", func(l *Limiter, _ *fakeClock) (int, int) {
			admitN(l, src("::ffff:192.0.2.1"), 3)
			return admitN(l, a, 50), 2
		}},
		{"pending attempts from all sources are capped", func(l *Limiter, _ *fakeClock) (int, int) {
			n := 0
			for i := range 10 {
				n += admitN(l, src(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()), 1)
			}
			return n, 8
		}},
		{"an ended attempt frees its place", func(l *Limiter, _ *fakeClock) (int, int) {
			for i := range 8 {
				admitN(l, src(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()), 1)
			}
			l.Failed()
			return admitN(l, a, 3), 1
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			l := New(5, 8, clock.now)
			if got, want := tc.run(l, clock); got != want {
				t.Errorf("admitted %d, want %d", got, want)
			}
		})
	}
}

func closeAll(l *Limiter, n int) {
	for range n {
		l.Failed()
	}
}

// TestSourceLimiterReportsRefusalsOnce: refusals are counted per source
// and handed out once, for one record each, not one per attempt.
func TestSourceLimiterReportsRefusalsOnce(t *testing.T) {
	clock := newFakeClock()
	l := New(5, 1000, clock.now)
	a := src("192.0.2.1")
	admitN(l, a, 5)
	first := clock.now()
	for range 10000 {
		l.Admit(a)
		clock.add(time.Millisecond)
	}
	got := l.TakeRefusals()
	if len(got) != 1 {
		t.Fatalf("%d reports, want 1: %+v", len(got), got)
	}
	// 10 s at 5 a minute earns back 0.8 attempt: every one is refused.
	if r := got[0]; r.Source != a || r.Count[OverRate] != 10000 || !r.First.Equal(first) || !r.Final.Equal(clock.now().Add(-time.Millisecond)) {
		t.Errorf("report %+v, want 10000 over rate from %v", r, a)
	}
	if again := l.TakeRefusals(); len(again) != 0 {
		t.Errorf("refusals reported twice: %+v", again)
	}
}

// TestSourceLimiterMemoryIsBounded: a spread-out attack cannot grow the
// table past MaxSources; the sources it cannot hold share one bucket,
// and sources that went idle are forgotten.
func TestSourceLimiterMemoryIsBounded(t *testing.T) {
	clock := newFakeClock()
	l := New(2, 1<<30, clock.now)
	addr := func(i int) netip.Prefix {
		return src(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
	}
	for i := range MaxSources + 50 {
		l.Admit(addr(i))
	}
	if n := len(l.sources); n > MaxSources+1 {
		t.Fatalf("%d sources tracked, want at most %d and the overflow", n, MaxSources)
	}
	// The overflow sources share 2 attempts: 48 of the 50 were refused.
	reports := l.TakeRefusals()
	if len(reports) != 1 || reports[0].Source != Overflow || reports[0].Count[OverRate] != 48 {
		t.Fatalf("reports %+v, want 48 refused from the overflow bucket", reports)
	}
	clock.add(time.Minute)
	l.TakeRefusals()
	if n := len(l.sources); n != 0 {
		t.Errorf("%d idle sources kept after a minute", n)
	}
	if l.Admit(addr(MaxSources+10)) != "" {
		t.Error("a new source refused once the table was emptied")
	}
}

func TestSourceAndName(t *testing.T) {
	cases := []struct{ addr, name string }{
		{"192.0.2.7:22", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:22", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:22", "2001:db8:1:2::/64"},
		{"@unix", Name(Overflow)},
	}
	for _, tc := range cases {
		if got := Name(Source(tc.addr)); got != tc.name {
			t.Errorf("Name(Source(%q)) = %q, want %q", tc.addr, got, tc.name)
		}
	}
}
