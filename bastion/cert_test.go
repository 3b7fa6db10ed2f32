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
		{"infinite", func(c *gossh.Certificate) { c.ValidBefore = gossh.CertTimeInfinity }, ""},
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
