package login

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"

	"github.com/gatehouse-dev/gatehouse/internal/syncbuf"
)

// recordingAgent is an in-memory keyring that also keeps what was added,
// since a keyring does not tell a key's lifetime.
type recordingAgent struct {
	agent.Agent
	mu    sync.Mutex
	added []agent.AddedKey
}

func (a *recordingAgent) Add(key agent.AddedKey) error {
	a.mu.Lock()
	a.added = append(a.added, key)
	a.mu.Unlock()
	return a.Agent.Add(key)
}

func (a *recordingAgent) addedKeys() []agent.AddedKey {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]agent.AddedKey(nil), a.added...)
}

// serveAgent serves a keyring on a unix socket as ssh-agent does.
func serveAgent(t *testing.T) (*recordingAgent, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "gh-agent") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	a := &recordingAgent{Agent: agent.NewKeyring()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				agent.ServeAgent(a, conn)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		os.RemoveAll(dir)
	})
	return a, sock
}

func TestLoginAddsToAgent(t *testing.T) {
	keyring, sock := serveAgent(t)
	tca := newTestCA(t, testCAOptions{devMode: true})
	out := &syncbuf.Buffer{}
	opts := baseOptions(t, tca, out)
	opts.DevToken = tca.devToken()
	opts.TTL = 20 * time.Minute
	opts.AgentSocket = sock

	res, err := Login(context.Background(), opts)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	t.Logf("output:\n%s", out)
	if !res.AddedToAgent {
		t.Fatalf("not added to the agent:\n%s", out)
	}
	added := keyring.addedKeys()
	if len(added) != 1 {
		t.Fatalf("agent got %d keys", len(added))
	}
	if lt := added[0].LifetimeSecs; lt < 19*60 || lt > 20*60 {
		t.Errorf("LifetimeSecs = %d, want about %d", lt, 20*60)
	}
	if added[0].Certificate == nil || added[0].Comment != res.KeyID {
		t.Errorf("added key %+v", added[0])
	}
	keys, err := keyring.List()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertificate(readFile(t, res.CertificateFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !bytes.Equal(keys[0].Blob, cert.Marshal()) {
		t.Errorf("agent lists %v, want the certificate", keys)
	}
}

func TestLoginAgentFailureWarns(t *testing.T) {
	tca := newTestCA(t, testCAOptions{devMode: true})
	out := &syncbuf.Buffer{}
	opts := baseOptions(t, tca, out)
	opts.DevToken = tca.devToken()
	opts.AgentSocket = filepath.Join(t.TempDir(), "no-agent.sock")

	res, err := Login(context.Background(), opts)
	if err != nil {
		t.Fatalf("an agent failure failed the login: %v", err)
	}
	if res.AddedToAgent || !strings.Contains(out.String(), "warning: could not add the certificate to ssh-agent") {
		t.Errorf("AddedToAgent=%v, output:\n%s", res.AddedToAgent, out)
	}
}

func TestAgentLifetime(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		before uint64
		want   uint32
		err    bool
	}{
		{uint64(now.Unix()) + 3600, 3600, false},
		{uint64(now.Unix()), 0, true},
		{uint64(now.Unix()) - 10, 0, true},
		{1<<64 - 1, 0, false}, // never expires: no constraint
	} {
		got, err := agentLifetime(certWithValidity(0, tc.before), now)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("before=%d: %d, %v; want %d, err=%v", tc.before, got, err, tc.want, tc.err)
		}
	}
}
