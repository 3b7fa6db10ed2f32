package bastion

import (
	"strconv"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// hugeText is a client-supplied string far over every cap: about what
// the red team sent as an SSH user name (item 21 of issue 12).
var hugeText = strings.Repeat("A", 200<<10)

// TestClientStringsAreClipped: every string a client chooses reaches the
// record clipped to its cap, saying how long it was, however large the
// client made it.
func TestClientStringsAreClipped(t *testing.T) {
	cases := []struct {
		name  string
		run   func(t *testing.T, f *fixture)
		event event.Type
		field string
		max   int
	}{
		{
			name: "user name of a refused key", event: event.TypeAuthFailure, field: "user", max: clip.NameMax,
			run: func(t *testing.T, f *fixture) {
				f.connect(func(cfg *gossh.ClientConfig) {
					cfg.User = hugeText
					cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(newSigner(t))}
				})
			},
		},
		{
			name: "user name of a client that tries nothing", event: event.TypeAuthFailure, field: "user", max: clip.NameMax,
			run: func(t *testing.T, f *fixture) {
				f.connect(func(cfg *gossh.ClientConfig) { cfg.User = hugeText })
			},
		},
		{
			name: "key id of a certificate from another CA", event: event.TypeAuthFailure, field: "key_id", max: clip.NameMax,
			run: func(t *testing.T, f *fixture) {
				cert := f.cert(f.foreignCA, func(c *gossh.Certificate) { c.KeyId = hugeText[:100<<10] }, nil)
				f.connect(func(cfg *gossh.ClientConfig) { cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(cert)} })
			},
		},
		{
			name: "user name of an accepted certificate", event: event.TypeAuthSuccess, field: "user", max: clip.NameMax,
			run: func(t *testing.T, f *fixture) {
				c, _, err := f.connect(func(cfg *gossh.ClientConfig) {
					cfg.User = hugeText
					cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(f.goodCert())}
				})
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
			},
		},
		{
			name: "direct-tcpip host", event: event.TypeChannelRefused, field: "host", max: clip.NameMax,
			run: func(t *testing.T, f *fixture) {
				openChannel(t, f, "direct-tcpip", gossh.Marshal(directTCPIP{Host: hugeText, Port: 5432, OriginHost: "127.0.0.1"}))
			},
		},
		{
			name: "direct-tcpip originator", event: event.TypeChannelRefused, field: "origin", max: clip.NameMax + len("[]:1"),
			run: func(t *testing.T, f *fixture) {
				openChannel(t, f, "direct-tcpip", gossh.Marshal(directTCPIP{Host: "nowhere", Port: 5432, OriginHost: hugeText, OriginPort: 1}))
			},
		},
		{
			name: "channel type", event: event.TypeChannelRefused, field: "type", max: clip.NameMax,
			run: func(t *testing.T, f *fixture) { openChannel(t, f, hugeText[:32<<10], nil) },
		},
		{
			name: "global request type", event: event.TypeRequestRefused, field: "type", max: clip.NameMax,
			run: func(t *testing.T, f *fixture) {
				c := f.login(f.goodCert())
				defer c.Close()
				c.SendRequest(hugeText[:32<<10], true, nil)
			},
		},
		{
			name: "exec command", event: event.TypeRequestRefused, field: "detail", max: clip.DetailMax,
			run: func(t *testing.T, f *fixture) {
				c := f.login(f.goodCert())
				defer c.Close()
				s, err := c.NewSession()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				s.Run(hugeText)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.run(t, f)
			evs := f.events()
			ev := only(t, evs, tc.event)
			if len(ev) == 0 {
				t.Fatalf("no %s event; events %v", tc.event, types(evs))
			}
			got, _ := ev[0][tc.field].(string)
			if len(got) > tc.max+len("…[clipped from 204800 bytes]") {
				t.Errorf("%s.%s holds %d bytes, want at most %d and a marker", tc.event, tc.field, len(got), tc.max)
			}
			if !strings.Contains(got, "…[clipped from ") || !strings.HasPrefix(strings.TrimPrefix(got, "["), "A") {
				t.Errorf("%s.%s = %.80q…, want the start of the value and a clipped marker", tc.event, tc.field, got)
			}
			for _, e := range evs {
				if len(e.Data) > 8<<10 {
					t.Errorf("%s event of %d bytes: %.200s", e.Type, len(e.Data), e.Data)
				}
			}
		})
	}
}

// openChannel logs in and opens a channel of type typ, which the bastion
// refuses.
func openChannel(t *testing.T, f *fixture, typ string, extra []byte) {
	t.Helper()
	c := f.login(f.goodCert())
	defer c.Close()
	if ch, _, err := c.OpenChannel(typ, extra); err == nil {
		ch.Close()
		t.Fatalf("channel %s…(%s bytes) opened, want a refusal", typ[:min(len(typ), 20)], strconv.Itoa(len(typ)))
	}
}
