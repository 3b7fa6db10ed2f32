package bastion

import (
	"math"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

func TestCheckSourceAddress(t *testing.T) {
	v4 := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 50000}
	v6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 50000}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.10"), Port: 50000}
	cases := []struct {
		remote net.Addr
		list   string
		ok     bool
		err    string
	}{
		{v4, "192.0.2.0/24", true, ""},
		{v4, "192.0.2.10", true, ""},
		{v4, "10.0.0.0/8, 192.0.2.10", true, ""},
		{v4, "10.0.0.0/8,192.0.3.0/24", false, "is not allowed"},
		{v4, "2001:db8::/32", false, "is not allowed"},
		{v6, "2001:db8::/32", true, ""},
		{v6, "192.0.2.0/24", false, "is not allowed"},
		{mapped, "192.0.2.0/24", true, ""},
		{v4, "::ffff:192.0.2.0/120", true, ""},
		{v4, "192.0.2.0/33", false, "invalid source-address entry"},
		{v4, "example.com", false, "invalid source-address entry"},
		{v4, "", false, "invalid source-address entry"},
		{v4, "192.0.2.10,example.com", false, "invalid source-address entry"},
		{v4, "192.0.2.0/24, 192.0.2.0/40", false, "invalid source-address entry"},
		{v4, "192.0.2.10,", false, "invalid source-address entry"},
		{nil, "192.0.2.10,example.com", false, "invalid source-address entry"},
		{nil, "192.0.2.0/24", false, "client address unknown"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, "192.0.2.0/24", false, "cannot be checked"},
	}
	for _, tc := range cases {
		err := checkSourceAddress(tc.remote, tc.list)
		if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("checkSourceAddress(%v, %q) = %v, want ok=%v %q", tc.remote, tc.list, err, tc.ok, tc.err)
		}
	}
}

func TestCheckShape(t *testing.T) {
	now := uint64(time.Now().Unix())
	key := newSigner(t).PublicKey()
	cases := []struct {
		name   string
		edit   func(*gossh.Certificate)
		reason string
	}{
		{"no principals", func(c *gossh.Certificate) { c.ValidPrincipals = nil }, "no principals"},
		{"only empty principals", func(c *gossh.Certificate) { c.ValidPrincipals = []string{""} }, "no principals"},
		{"empty window", func(c *gossh.Certificate) { c.ValidAfter, c.ValidBefore = now, now }, "invalid validity period"},
		{"start beyond int64", func(c *gossh.Certificate) { c.ValidAfter = math.MaxInt64 + 1 }, "invalid validity period"},
		{"end beyond int64", func(c *gossh.Certificate) { c.ValidBefore = math.MaxInt64 + 1 }, "invalid validity period"},
		{"fine", func(*gossh.Certificate) {}, ""},
		{"infinite", func(c *gossh.Certificate) { c.ValidBefore = gossh.CertTimeInfinity }, "never expires"},
	}
	for _, tc := range cases {
		c := &gossh.Certificate{Key: key, ValidPrincipals: []string{"orders:readonly"}, ValidAfter: now - 60, ValidBefore: now + 60}
		tc.edit(c)
		r := checkShape(c)
		switch {
		case tc.reason == "" && r != nil:
			t.Errorf("%s: refused: %s", tc.name, r.reason)
		case tc.reason != "" && (r == nil || !strings.Contains(r.reason, tc.reason)):
			t.Errorf("%s: got %v, want %q", tc.name, r, tc.reason)
		}
	}
}

// TestCheckCurrent: the skew is allowed before ValidAfter only; at and
// after ValidBefore a certificate is refused, whatever the skew.
func TestCheckCurrent(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	key := newSigner(t).PublicKey()
	cert := &gossh.Certificate{Key: key, ValidAfter: uint64(start.Unix()), ValidBefore: uint64(end.Unix())}
	cases := []struct {
		name   string
		skew   time.Duration
		now    time.Time
		reason string
	}{
		{"inside", time.Minute, start.Add(time.Minute), ""},
		{"a second before the end", time.Minute, end.Add(-time.Second), ""},
		{"at the end", time.Minute, end, "expired at 2026-01-01T13:00:00Z"},
		{"within the skew after the end", time.Minute, end.Add(2 * time.Second), "expired"},
		{"within the skew before the start", time.Minute, start.Add(-30 * time.Second), ""},
		{"beyond the skew before the start", time.Minute, start.Add(-2 * time.Minute), "not yet valid"},
		{"zero skew before the start", 0, start.Add(-time.Second), "not yet valid"},
		{"zero skew at the start", 0, start, ""},
	}
	for _, tc := range cases {
		c := certChecker{skew: tc.skew, isRevoked: func(*gossh.Certificate) bool { return false }}
		r := c.checkCurrent(cert, tc.now)
		switch {
		case tc.reason == "" && r != nil:
			t.Errorf("%s: refused: %s", tc.name, r.reason)
		case tc.reason != "" && (r == nil || !strings.Contains(r.reason, tc.reason)):
			t.Errorf("%s: got %v, want %q", tc.name, r, tc.reason)
		}
	}
}

func TestCheckLifetime(t *testing.T) {
	key := newSigner(t).PublicKey()
	cases := []struct {
		name     string
		maxTTL   time.Duration
		lifetime time.Duration
		ok       bool
	}{
		{"ca.max_ttl and the CA's backdating", time.Hour, time.Hour + time.Minute, true},
		{"the most backdating allowed", time.Hour, time.Hour + maxBackdate, true},
		{"a second more", time.Hour, time.Hour + maxBackdate + time.Second, false},
		{"a year", time.Hour, 365 * 24 * time.Hour, false},
		{"no cap configured", 0, 365 * 24 * time.Hour, true},
	}
	for _, tc := range cases {
		c := &gossh.Certificate{Key: key, ValidAfter: 1_000_000, ValidBefore: 1_000_000 + uint64(tc.lifetime/time.Second)}
		r := certChecker{maxTTL: tc.maxTTL}.checkLifetime(c)
		if (r == nil) != tc.ok {
			t.Errorf("%s: checkLifetime = %v, want ok=%v", tc.name, r, tc.ok)
		}
	}
}
