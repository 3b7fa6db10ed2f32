package bastion

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestKeyOfferedAgain: x/crypto answers a key offered a second time from
// its cache, without asking the bastion. The attempt is recorded as it
// always was: "permission denied", with no key facts, and the first
// attempt with the real reason and the key's facts.
func TestKeyOfferedAgain(t *testing.T) {
	f := newFixture(t)
	foreign := f.cert(f.foreignCA, nil, nil)
	_, banners, err := f.connect(func(cfg *gossh.ClientConfig) {
		cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(foreign, foreign)}
	})
	if err == nil {
		t.Fatal("a foreign certificate logged in")
	}
	failures := only(t, f.events(), event.TypeAuthFailure)
	if len(failures) != 2 {
		t.Fatalf("%d auth.failure events, want 2", len(failures))
	}
	wantField(t, failures[0], "reason", "certificate signed by an unknown authority "+gossh.FingerprintSHA256(f.foreignCA.PublicKey()))
	wantField(t, failures[0], "key_id", testIdentity.Name())
	wantField(t, failures[1], "reason", "permission denied")
	if _, ok := failures[1]["key_id"]; ok {
		t.Errorf("the repeated offer records key facts: %v", failures[1])
	}
	if len(banners) != 2 || banners[1] != "gatehouse: public key refused: permission denied; "+hintLogin+"\r\n" {
		t.Errorf("banners %q", banners)
	}
}

// temporaryError is an accept error net/http and Serve ride out.
type temporaryError struct{}

func (temporaryError) Error() string   { return "too many open files" }
func (temporaryError) Temporary() bool { return true }
func (temporaryError) Timeout() bool   { return false }

// failingListener fails every Accept with a temporary error until closed.
type failingListener struct {
	once   sync.Once
	closed chan struct{}
}

func (l *failingListener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
		return nil, temporaryError{}
	}
}

func (l *failingListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAcceptBackoffEndsWithContext: Serve, waiting out a run of failed
// accepts, returns as soon as its context ends, not when the back-off
// (up to a second) is over.
func TestAcceptBackoffEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pol, err := policy.Parse([]byte("data_dir: " + t.TempDir() + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		signer := newSigner(t)
		srv, err := New(Config{Policy: pol, UserCAKeys: []gossh.PublicKey{signer.PublicKey()}, HostSigner: signer,
			Recorder: &recorder.Recorder{Store: recorder.FileStore{Dir: filepath.Join(t.TempDir(), "recordings")}},
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ctx, &failingListener{closed: make(chan struct{})}) }()
		time.Sleep(10*time.Second + 500*time.Millisecond) // the back-off is at its ceiling, mid-wait
		cancel()
		synctest.Wait()
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		default:
			t.Error("Serve still waiting out its accept back-off after its context ended")
			<-served
		}
	})
}

// bastionGoroutines returns the stacks of the goroutines running this
// package's code (not its tests), such as a connection's handlers or a
// revocation in progress.
func bastionGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		frames, _, _ := strings.Cut(g, "\ncreated by ")
		if slices.ContainsFunc(bastionFrame.FindAllString(frames, -1), isCode) {
			out = append(out, g)
		}
	}
	return out
}

// bastionFrame matches a frame's file line in one of this package's files.
var bastionFrame = regexp.MustCompile(`(?m)^\t\S*/bastion/[a-z0-9_]+\.go:`)

func isCode(fileLine string) bool { return !strings.HasSuffix(fileLine, "_test.go:") }

// noBastionGoroutines fails t if a goroutine of the bastion's is left.
// Serve has returned: any left is at most finishing its return.
func noBastionGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		left := bastionGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines outlived Serve:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRevocationEndsWithServe: a revocation EnforceRevocation started
// belongs to its connection, and Serve, shut down while it runs, does not
// return before it has ended.
func TestRevocationEndsWithServe(t *testing.T) {
	var revoked atomic.Bool
	f := newFixture(t, func(_ *fixture, c *Config) {
		c.IsRevoked = func(*gossh.Certificate) bool { return revoked.Load() }
	})
	client := f.login(f.goodCert())
	defer client.Close()
	f.openEchoing(client, "orders")
	revoked.Store(true)
	if n := f.srv.EnforceRevocation(); n != 1 {
		t.Fatalf("EnforceRevocation found %d sessions, want 1", n)
	}
	f.stop() // checks that no goroutine outlives Serve
	if n := f.srv.EnforceRevocation(); n != 0 {
		t.Errorf("EnforceRevocation found %d sessions after Serve returned", n)
	}
	evs := f.events()
	if last := evs[len(evs)-1]; last.Type != event.TypeSessionEnd {
		t.Fatalf("session ends with %s", last.Type)
	}
}

// TestHandshakeEndReasons: why a handshake failed reaches session.end,
// through gliderlabs' ConnectionFailedCallback (sshServer).
func TestHandshakeEndReasons(t *testing.T) {
	cases := []struct {
		name   string
		send   string // after the server's version line, then close
		reason string
	}{
		{"disconnected in key exchange", "SSH-2.0-test\r\n", "client disconnected during handshake"},
		{"garbage in key exchange", "SSH-2.0-test\r\n" + strings.Repeat("\x00\x00\x00\x10garbage!", 8), "handshake failed: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			conn, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			// Half-close and drain before closing: closing with the
			// server's key exchange unread would make the kernel send a
			// reset instead of the end of stream this case is about.
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, conn) // ends when the server closes
			conn.Close()
			wantField(t, one(t, f.events(), event.TypeSessionEnd), "reason", tc.reason)
		})
	}
}
