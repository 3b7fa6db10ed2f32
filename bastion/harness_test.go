package bastion

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a running bastion on 127.0.0.1 with two echo targets,
// "orders" and "billing", and a file recorder in a temporary directory.
type fixture struct {
	t                         *testing.T
	userCA, foreignCA, hostCA gossh.Signer
	pol                       *policy.Config
	store                     recorder.FileStore
	addr                      string
	targets                   map[string]string // name → address
	cancel                    context.CancelFunc
	served                    chan error
	srv                       *Server

	mu     sync.Mutex
	dialed []string
}

// revokedSerial is the serial the fixture's IsRevoked reports as revoked.
const revokedSerial = 666

type fixtureOption func(*fixture, *Config)

func newFixture(t *testing.T, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{
		t:         t,
		userCA:    newSigner(t),
		foreignCA: newSigner(t),
		hostCA:    newSigner(t),
		store:     recorder.FileStore{Dir: filepath.Join(t.TempDir(), "recordings")},
		targets:   map[string]string{"orders": echoTarget(t), "billing": echoTarget(t)},
	}
	pol, err := policy.Parse(fmt.Appendf(nil, `
data_dir: %s
targets:
  orders:
    # tcp: these tests relay to an echo server; the postgres path, through
    # bastion/pgwire, is tested end to end in e2e.
    protocol: tcp
    address: %s
    roles:
      readonly: {}
      admin: {}
  billing:
    protocol: tcp
    address: %s
    roles:
      readonly: {}
`, t.TempDir(), f.targets["orders"], f.targets["billing"]))
	if err != nil {
		t.Fatal(err)
	}
	f.pol = pol
	cfg := Config{
		Policy:     pol,
		UserCAKeys: []gossh.PublicKey{f.userCA.PublicKey()},
		HostSigner: f.hostSigner(),
		Recorder:   &recorder.Recorder{Store: f.store},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			f.mu.Lock()
			f.dialed = append(f.dialed, addr)
			f.mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		IsRevoked: func(c *gossh.Certificate) bool { return c.Serial == revokedSerial },
		Logger:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(f, &cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.served = make(chan error, 1)
	go func() { f.served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { f.stop() })
	return f
}

// stop shuts the bastion down, waits for Serve and checks that no
// goroutine of the bastion's outlives it; it may be called more than once.
func (f *fixture) stop() {
	f.t.Helper()
	f.cancel()
	select {
	case err, ok := <-f.served:
		if ok && err != nil {
			f.t.Errorf("Serve: %v", err)
		}
		if ok {
			close(f.served)
			noBastionGoroutines(f.t)
		}
	case <-time.After(10 * time.Second):
		f.t.Fatal("Serve did not return after cancellation")
	}
}

func newSigner(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) hostSigner() gossh.Signer {
	key := newSigner(f.t)
	cert := &gossh.Certificate{
		Key:             key.PublicKey(),
		CertType:        gossh.HostCert,
		KeyId:           "gatehouse host",
		ValidPrincipals: []string{"127.0.0.1", "gatehouse"},
		ValidBefore:     gossh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, f.hostCA); err != nil {
		f.t.Fatal(err)
	}
	s, err := gossh.NewCertSigner(cert, key)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

var testIdentity = policy.Identity{
	Subject: "alice-sub",
	Email:   "alice@example.com",
	Groups:  []string{"engineering"},
	Issuer:  "https://idp.test",
	Serial:  42,
}

// cert issues a user certificate for a fresh key, signed by ca, valid
// from 5 minutes ago for an hour and granting orders:readonly; edit
// changes it before signing and tamper after.
func (f *fixture) cert(ca gossh.Signer, edit, tamper func(*gossh.Certificate)) gossh.Signer {
	f.t.Helper()
	key := newSigner(f.t)
	now := time.Now()
	cert := &gossh.Certificate{
		Key:             key.PublicKey(),
		Serial:          testIdentity.Serial,
		CertType:        gossh.UserCert,
		KeyId:           testIdentity.Name(),
		ValidPrincipals: []string{"orders:readonly"},
		ValidAfter:      uint64(now.Add(-5 * time.Minute).Unix()),
		ValidBefore:     uint64(now.Add(time.Hour).Unix()),
		Permissions: gossh.Permissions{Extensions: map[string]string{
			policy.IdentityExtension: testIdentity.Encode(),
			"permit-port-forwarding": "",
		}},
	}
	if edit != nil {
		edit(cert)
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		f.t.Fatal(err)
	}
	if tamper != nil {
		tamper(cert)
	}
	s, err := gossh.NewCertSigner(cert, key)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// goodCert is an accepted certificate granting the given principals.
func (f *fixture) goodCert(principals ...string) gossh.Signer {
	return f.cert(f.userCA, func(c *gossh.Certificate) {
		if len(principals) > 0 {
			c.ValidPrincipals = principals
		}
	}, nil)
}

// connect opens an SSH connection; banners collects what the bastion
// showed during authentication.
func (f *fixture) connect(edit func(*gossh.ClientConfig)) (client *gossh.Client, banners []string, err error) {
	f.t.Helper()
	var mu sync.Mutex
	hostCA := f.hostCA.PublicKey()
	checker := &gossh.CertChecker{
		IsHostAuthority: func(auth gossh.PublicKey, _ string) bool {
			return bytes.Equal(auth.Marshal(), hostCA.Marshal())
		},
	}
	cfg := &gossh.ClientConfig{
		User:            "whoever",
		HostKeyCallback: checker.CheckHostKey,
		BannerCallback: func(msg string) error {
			mu.Lock()
			defer mu.Unlock()
			banners = append(banners, msg)
			return nil
		},
		Timeout: 5 * time.Second,
	}
	edit(cfg)
	client, err = gossh.Dial("tcp", f.addr, cfg)
	mu.Lock()
	defer mu.Unlock()
	return client, slices.Clone(banners), err
}

// login connects with signer and fails the test if that does not work.
func (f *fixture) login(signer gossh.Signer) *gossh.Client {
	f.t.Helper()
	c, banners, err := f.connect(func(cfg *gossh.ClientConfig) {
		cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(signer)}
	})
	if err != nil {
		f.t.Fatalf("connect: %v (banners %q)", err, banners)
	}
	return c
}

func (f *fixture) dials() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.dialed)
}

// events waits until the fixture has recorded exactly one session that
// has ended, checks its chain and returns its events.
func (f *fixture) events() []recorder.Event {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, ok := f.endedSession()
		if ok {
			return evs
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no ended session recorded; have %v", types(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) endedSession() ([]recorder.Event, bool) {
	ids, err := f.store.List(recorder.KindSession)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(ids) > 1 {
		f.t.Fatalf("%d session streams, want 1", len(ids))
	}
	if len(ids) == 0 {
		return nil, false
	}
	lines, err := f.store.Lines(recorder.KindSession, ids[0])
	if err != nil {
		f.t.Fatal(err)
	}
	evs, err := recorder.VerifyChain(lines)
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Type != event.TypeSessionEnd {
		return evs, false // still being written
	}
	return evs, true
}

func types(evs []recorder.Event) []event.Type {
	var ts []event.Type
	for _, e := range evs {
		ts = append(ts, e.Type)
	}
	return ts
}

// only returns the payloads of the events of one type.
func only(t *testing.T, evs []recorder.Event, typ event.Type) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range evs {
		if e.Type != typ {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(e.Data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// one returns the payload of the single event of a type.
func one(t *testing.T, evs []recorder.Event, typ event.Type) map[string]any {
	t.Helper()
	got := only(t, evs, typ)
	if len(got) != 1 {
		t.Fatalf("%d %s events, want 1; events %v", len(got), typ, types(evs))
	}
	return got[0]
}

func wantTypes(t *testing.T, evs []recorder.Event, want ...event.Type) {
	t.Helper()
	if got := types(evs); !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
}

func wantField(t *testing.T, ev map[string]any, field string, want any) {
	t.Helper()
	got, ok := ev[field]
	if !ok {
		t.Errorf("event %v has no %s", ev, field)
		return
	}
	if gs, ok := got.(string); ok {
		if ws, ok := want.(string); ok && strings.Contains(gs, ws) {
			return
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", field, got, want)
	}
}

func (f *fixture) port(target string) int {
	_, p, _ := net.SplitHostPort(f.targets[target])
	n, _ := strconv.Atoi(p)
	return n
}

// echoTarget is a TCP server that echoes until its client half-closes,
// then half-closes too.
func echoTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// openDirect opens a direct-tcpip channel as ssh -L does.
func openDirect(c *gossh.Client, host string, port int) (gossh.Channel, error) {
	ch, reqs, err := c.OpenChannel("direct-tcpip", gossh.Marshal(directTCPIP{
		Host: host, Port: uint32(port), OriginHost: "127.0.0.1", OriginPort: 50000,
	}))
	if err != nil {
		return nil, err
	}
	go gossh.DiscardRequests(reqs)
	return ch, nil
}

// testClock is a Config.Clock that tests move forward.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openEchoing opens a direct-tcpip channel to an echo target and checks
// that bytes go round it.
func (f *fixture) openEchoing(c *gossh.Client, target string) gossh.Channel {
	f.t.Helper()
	ch, err := openDirect(c, target, f.port(target))
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := ch.Write([]byte("ping")); err != nil {
		f.t.Fatal(err)
	}
	if _, err := io.ReadFull(ch, make([]byte, 4)); err != nil {
		f.t.Fatal(err)
	}
	return ch
}

// waitEnded waits until the bastion has closed c, within the grace a
// session it ends has and some.
func waitEnded(t *testing.T, c *gossh.Client, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(revokeGrace + 3*time.Second):
		t.Fatal(what + " still open")
	}
}
