package bastion

import (
	"slices"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func TestAuthRefusals(t *testing.T) {
	hour := time.Hour
	validity := func(from, to time.Duration) func(*gossh.Certificate) {
		return func(c *gossh.Certificate) {
			now := time.Now()
			c.ValidAfter = uint64(now.Add(from).Unix())
			c.ValidBefore = uint64(now.Add(to).Unix())
		}
	}
	cases := []struct {
		name   string
		auth   func(f *fixture) gossh.AuthMethod
		method string
		reason string // in auth.failure
		banner string // shown to the client
	}{
		{
			name:   "plain key",
			auth:   func(f *fixture) gossh.AuthMethod { return gossh.PublicKeys(newSigner(t)) },
			method: "publickey", reason: "not a certificate",
			banner: "gatehouse: refused key SHA256:",
		},
		{
			name:   "foreign CA",
			auth:   func(f *fixture) gossh.AuthMethod { return gossh.PublicKeys(f.cert(f.foreignCA, nil, nil)) },
			method: "publickey", reason: "certificate signed by an unknown authority SHA256:",
			banner: `gatehouse: refused certificate "alice@example.com" (key SHA256:`,
		},
		{
			name: "host certificate",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, func(c *gossh.Certificate) { c.CertType = gossh.HostCert }, nil))
			},
			method: "publickey", reason: "host certificate, not a user certificate",
			banner: "host certificate, not a user certificate",
		},
		{
			name: "expired",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, validity(-2*hour, -10*time.Minute), nil))
			},
			method: "publickey", reason: "certificate expired at",
			banner: "run `gatehouse login` for a new certificate",
		},
		{
			name: "not yet valid",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, validity(10*time.Minute, hour), nil))
			},
			method: "publickey", reason: "certificate is not yet valid",
			banner: "certificate is not yet valid",
		},
		{
			name: "source-address mismatch",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, func(c *gossh.Certificate) {
					c.CriticalOptions = map[string]string{"source-address": "10.1.2.0/24,192.0.2.7"}
				}, nil))
			},
			method: "publickey", reason: `client address 127.0.0.1 is not allowed by the certificate's source-address "10.1.2.0/24,192.0.2.7"`,
			banner: "is not allowed by the certificate's source-address",
		},
		{
			// sshd parses the whole list first: a bad entry refuses the
			// certificate even after one that matches.
			name: "source-address with an invalid entry after a matching one",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, func(c *gossh.Certificate) {
					c.CriticalOptions = map[string]string{"source-address": "127.0.0.1,not-an-address"}
				}, nil))
			},
			method: "publickey", reason: `certificate has an invalid source-address entry "not-an-address"`,
			banner: "invalid source-address entry",
		},
		{
			// The skew is allowed before ValidAfter only.
			name: "expired within the clock skew",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, validity(-time.Hour, -30*time.Second), nil))
			},
			method: "publickey", reason: "certificate expired at",
			banner: "run `gatehouse login` for a new certificate",
		},
		{
			name: "never expires",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, func(c *gossh.Certificate) { c.ValidBefore = gossh.CertTimeInfinity }, nil))
			},
			method: "publickey", reason: "certificate never expires",
			banner: "certificate never expires",
		},
		{
			name: "longer-lived than ca.max_ttl allows",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, validity(-time.Minute, 24*hour), nil))
			},
			method: "publickey", reason: "longer than ca.max_ttl (1h0m0s) allows",
			banner: "longer than ca.max_ttl",
		},
		{
			name: "unknown critical option",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, func(c *gossh.Certificate) {
					c.CriticalOptions = map[string]string{"force-command": "/bin/true"}
				}, nil))
			},
			method: "publickey", reason: `certificate has unsupported critical option "force-command"`,
			banner: "unsupported critical option",
		},
		{
			name: "revoked",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, func(c *gossh.Certificate) { c.Serial = revokedSerial }, nil))
			},
			method: "publickey", reason: "certificate serial 666 is revoked",
			banner: "certificate serial 666 is revoked",
		},
		{
			name: "no identity extension",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, func(c *gossh.Certificate) {
					delete(c.Extensions, policy.IdentityExtension)
				}, nil))
			},
			method: "publickey", reason: "certificate has no identity@gatehouse extension",
			banner: "certificate has no identity@gatehouse extension",
		},
		{
			name: "undecodable identity extension",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, func(c *gossh.Certificate) {
					c.Extensions[policy.IdentityExtension] = `{"sub":""}`
				}, nil))
			},
			method: "publickey", reason: "extension lacks subject or issuer",
			banner: "extension lacks subject or issuer",
		},
		{
			name: "tampered certificate",
			auth: func(f *fixture) gossh.AuthMethod {
				return gossh.PublicKeys(f.cert(f.userCA, nil, func(c *gossh.Certificate) {
					c.ValidPrincipals = []string{"orders:admin"} // after signing
				}))
			},
			method: "publickey", reason: "certificate signature does not verify",
			banner: "certificate signature does not verify",
		},
		{
			name:   "password",
			method: "password", reason: "password authentication is not accepted",
			banner: "gatehouse: password authentication is not accepted; gatehouse accepts only user certificates from its CA: run `gatehouse login`",
		},
		{
			name:   "keyboard-interactive",
			method: "keyboard-interactive", reason: "keyboard-interactive authentication is not accepted",
			banner: "keyboard-interactive authentication is not accepted",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			client, banners, err := f.connect(func(cfg *gossh.ClientConfig) {
				switch tc.method {
				case "publickey":
					cfg.Auth = []gossh.AuthMethod{tc.auth(f)}
				default:
					// The bastion offers only publickey, so a client has to
					// insist to try anything else: AuthCallback may pick a
					// method the server did not list.
					cfg.AuthCallback = insist(tc.method)
				}
			})
			if err == nil {
				client.Close()
				t.Fatal("authentication succeeded")
			}
			// x/crypto's keyboard-interactive client reports an immediate
			// failure as an unexpected message rather than a refusal.
			if tc.method != "keyboard-interactive" && !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("client error %v, want an authentication failure", err)
			}
			if !slices.ContainsFunc(banners, func(b string) bool { return strings.Contains(b, tc.banner) }) {
				t.Errorf("banners %q, want one containing %q", banners, tc.banner)
			}

			evs := f.events()
			wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthFailure, event.TypeSessionEnd)
			ev := one(t, evs, event.TypeAuthFailure)
			wantField(t, ev, "method", tc.method)
			wantField(t, ev, "user", "whoever")
			wantField(t, ev, "reason", tc.reason)
			if tc.method == "publickey" {
				if _, ok := ev["key_fingerprint"]; !ok {
					t.Errorf("auth.failure for a key lacks its fingerprint: %v", ev)
				}
			}
			wantField(t, one(t, evs, event.TypeSessionEnd), "reason", "authentication failed")
		})
	}
}

// TestAuthNoneOnly: a client that wants only a password gives up after
// the initial "none" request, because publickey is all it is offered.
// That "none" is then its only attempt and is recorded.
func TestAuthNoneOnly(t *testing.T) {
	f := newFixture(t)
	_, _, err := f.connect(func(cfg *gossh.ClientConfig) {
		cfg.Auth = []gossh.AuthMethod{gossh.Password("hunter2")}
	})
	if err == nil || !strings.Contains(err.Error(), "no supported methods remain") {
		t.Fatalf("connect: %v, want no supported methods", err)
	}
	evs := f.events()
	wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthFailure, event.TypeSessionEnd)
	ev := one(t, evs, event.TypeAuthFailure)
	wantField(t, ev, "method", "none")
	wantField(t, ev, "reason", "the client tried no method gatehouse accepts")
}

// insist returns an AuthCallback that tries method once, whatever the
// server offers.
func insist(method string) func(*gossh.ClientAuthContext) (gossh.AuthMethod, error) {
	return func(ctx *gossh.ClientAuthContext) (gossh.AuthMethod, error) {
		if slices.Contains(ctx.TriedMethods, method) {
			return nil, nil
		}
		switch method {
		case "password":
			return gossh.Password("hunter2"), nil
		default:
			return gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
				return nil, nil
			}), nil
		}
	}
}

func TestAuthAccepts(t *testing.T) {
	cases := []struct {
		name string
		edit func(*gossh.Certificate)
	}{
		{"valid from within the clock skew", func(c *gossh.Certificate) {
			c.ValidAfter = uint64(time.Now().Add(30 * time.Second).Unix())
		}},
		{"a few seconds before its end", func(c *gossh.Certificate) {
			c.ValidBefore = uint64(time.Now().Add(5 * time.Second).Unix())
		}},
		{"matching source-address", func(c *gossh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8, 127.0.0.0/8"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.login(f.cert(f.userCA, tc.edit, nil)).Close()
			evs := f.events()
			wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthSuccess, event.TypeSessionEnd)
		})
	}
}

// TestAuthSeveralKeys: an agent holding a plain key and a certificate
// gets in with the certificate; the plain key's refusal is recorded.
func TestAuthSeveralKeys(t *testing.T) {
	f := newFixture(t)
	client, banners, err := f.connect(func(cfg *gossh.ClientConfig) {
		cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(newSigner(t), f.goodCert())}
	})
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	if len(banners) != 1 || !strings.Contains(banners[0], "not a certificate") {
		t.Errorf("banners %q, want one refusal of the plain key", banners)
	}
	evs := f.events()
	wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthFailure, event.TypeAuthSuccess, event.TypeSessionEnd)
	wantField(t, one(t, evs, event.TypeAuthFailure), "key_type", "ssh-ed25519")
}
