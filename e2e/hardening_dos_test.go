//go:build servers

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Issue 12, items 21 and 22: a client that fills the spool shuts everyone
// out (recording.fail_closed), so nothing a client sends may grow the
// record without bound.

// hugeName is what the red team sent as an SSH user name: 200 KiB.
var hugeName = strings.Repeat("N", 200<<10)

// maxClipped is the most a clipped name may take in a record: 256 bytes
// and the marker with its original length.
const maxClipped = 256 + len("…[clipped from 204800 bytes]")

// testHardeningDosClip sends over-long names through real protocol
// clients and checks that the record holds them clipped.
func testHardeningDosClip(t *testing.T, w *world, alice profile) {
	t.Run("a 200 KiB SSH user name", func(t *testing.T) {
		before := w.sessionIDs(t)
		_, err := rawSSH(w.sshAddr, hugeName, ssh.PublicKeys(newTestSigner(t)))
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("connect with a plain key: %v, want an authentication failure", err)
		}
		events := w.newSessionEvents(t, before)
		wantClipped(t, findEvent(t, events, "auth.failure", "clipped from 204800 bytes"), "user")
		wantSmallEvents(t, events)
	})
	t.Run("a 100 KiB direct-tcpip host and originator", func(t *testing.T) {
		before := w.sessionIDs(t)
		client, err := rawSSH(w.sshAddr, "alice", ssh.PublicKeys(profileSigner(t, alice)))
		if err != nil {
			t.Fatalf("connect with alice's certificate: %v", err)
		}
		payload := ssh.Marshal(struct {
			Host       string
			Port       uint32
			OriginHost string
			OriginPort uint32
		}{hugeName[:100<<10], 5432, hugeName[:100<<10], 1}) // both within one SSH packet (256 KiB)
		if ch, _, err := client.OpenChannel("direct-tcpip", payload); err == nil {
			ch.Close()
			t.Error("a channel to a 100 KiB host name opened")
		}
		client.Close()
		events := w.newSessionEvents(t, before)
		ev := findEvent(t, events, "channel.refused", "clipped from 102400 bytes")
		wantClipped(t, ev, "host")
		wantClipped(t, ev, "origin")
		wantSmallEvents(t, events)
	})
	t.Run("a long application_name through the PostgreSQL proxy", func(t *testing.T) {
		before := w.sessionIDs(t)
		port, stop := w.startTunnel(t, w.sshConfig(alice), "orders")
		cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://readonly@127.0.0.1:%d/orders?sslmode=disable&connect_timeout=10", port))
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["application_name"] = strings.Repeat("a", 5000)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("pgx with a 5000-byte application_name: %v", err)
		}
		conn.Close(ctx)
		stop()
		events := w.newSessionEvents(t, before)
		ev := findEvent(t, events, "db.session.start", "clipped from 5000 bytes")
		wantClipped(t, ev, "application_name")
	})
}

// wantClipped checks that a field of an event holds a clipped value.
func wantClipped(t *testing.T, ev recorder.Event, field string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[field].(string)
	if len(s) > maxClipped+len("[]:1") || !strings.Contains(s, "…[clipped from ") {
		t.Errorf("%s.%s holds %d bytes (%.60q…), want at most %d with a clipped marker", ev.Type, field, len(s), s, maxClipped)
	}
}

// wantSmallEvents fails if any event is larger than a few KiB.
func wantSmallEvents(t *testing.T, events []recorder.Event) {
	t.Helper()
	for _, ev := range events {
		if len(ev.Data) > 4<<10 {
			t.Errorf("%s event of %d bytes", ev.Type, len(ev.Data))
		}
	}
}

// rawSSH connects with x/crypto/ssh as a scripted client would: any
// user name, no host key check (the bastion is what is under test).
func rawSSH(addr, user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
}

func newTestSigner(t *testing.T) ssh.Signer {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return readSigner(t, key)
}

func readSigner(t *testing.T, path string) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// profileSigner is the key of a logged-in profile with its certificate.
func profileSigner(t *testing.T, p profile) ssh.Signer {
	t.Helper()
	s, err := ssh.NewCertSigner(readCert(t, p.cert()), readSigner(t, p.key()))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// throttleConfig is a bastion with a low limit on unauthenticated
// connections, and nothing else: no IdP, one tcp target.
const throttleConfig = `
data_dir: %s
ssh:
  listen: %s
  max_auth_attempts_per_minute: 5
ca:
  listen: %s
  max_failed_requests_per_minute: 5
targets:
  echo:
    protocol: tcp
    address: 127.0.0.1:9
    roles:
      direct: {}
`

// testHardeningDosThrottle bursts connections that never authenticate at
// a bastion of its own (the burst would spend the shared world's
// attempts from 127.0.0.1): past the limit they are refused before the
// handshake, and the record grows by one event for all of them. The same
// for certificate requests with a forged token.
func testHardeningDosThrottle(t *testing.T, w *world, _ profile) {
	dir := t.TempDir()
	sshAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	apiAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, cfgPath, fmt.Appendf(nil, throttleConfig, dir, sshAddr, apiAddr))
	w.gatehouse("ca", "init", "--config", cfgPath)
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	serve := exec.Command(w.bin, "serve", "--config", cfgPath)
	serve.Stdout, serve.Stderr = logFile, logFile
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		serve.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			serve.Process.Kill()
			<-exited
		}
	}
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for !apiUp("http://"+apiAddr) || !tcpUp(sshAddr) { // one attempt spent
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("gatehouse serve not ready\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	const burst = 30
	authFailed, refused := 0, 0
	for range burst {
		_, err := rawSSH(sshAddr, hugeName, ssh.PublicKeys(newTestSigner(t)))
		switch {
		case err == nil:
			t.Fatal("an unauthenticated client got in")
		case strings.Contains(err.Error(), "unable to authenticate"):
			authFailed++
		default:
			refused++
		}
	}
	// 4 attempts were left after the readiness probe; the burst may
	// earn one more if it takes longer than 12 s.
	if authFailed < 4 || authFailed > 5 {
		t.Errorf("%d connections got to authenticate, want the 4 attempts the limit of 5 left", authFailed)
	}
	out, _ := exec.Command("ssh", "-v", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-p", strings.Split(sshAddr, ":")[1], "x@127.0.0.1", "true").CombinedOutput()
	mustContain(t, "OpenSSH refused by the limit", string(out), "gatehouse: too many connections that have not authenticated")
	refused++

	apiAnswers := map[int]int{}
	for range 20 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+apiAddr+"/v1/certificates", strings.NewReader(`{"public_key": "x"}`))
		req.Header.Set("Authorization", "Bearer forged."+hugeName[:10000])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		apiAnswers[resp.StatusCode]++
	}
	if apiAnswers[http.StatusUnauthorized] != 5 || apiAnswers[http.StatusTooManyRequests] != 15 {
		t.Errorf("certificate API answered %v to 20 forged tokens, want 5×401 then 15×429", apiAnswers)
	}

	stop() // the refusals are recorded at least once a minute, and at shutdown
	store := recorder.FileStore{Dir: filepath.Join(dir, "recordings")}
	sessions, sessionEvents := streamEvents(t, store, recorder.KindSession)
	throttled := eventsOf(sessionEvents, "auth.throttled")
	if len(throttled) != 1 {
		t.Fatalf("%d auth.throttled events, want 1 for all %d refusals", len(throttled), refused)
	}
	if got := throttled[0]; !strings.Contains(got, `"source":"127.0.0.1"`) || !strings.Contains(got, fmt.Sprintf(`"over_rate":%d,`, refused)) {
		t.Errorf("auth.throttled %s, want %d over rate from 127.0.0.1", got, refused)
	}
	// The probe, the connections that authenticated and failed, and the
	// one stream of refusals.
	if want := 1 + authFailed + 1; sessions != want {
		t.Errorf("%d session streams, want %d", sessions, want)
	}
	_, caEvents := streamEvents(t, store, recorder.KindCA)
	certRefused, certThrottled := eventsOf(caEvents, "cert.refused"), eventsOf(caEvents, "cert.throttled")
	if len(certRefused) != 5 || len(certThrottled) != 1 || !strings.Contains(certThrottled[0], `"over_rate":15,`) {
		t.Errorf("CA recorded %d cert.refused and cert.throttled %v, want 5 and one with over_rate 15", len(certRefused), certThrottled)
	}
	// The journal's segments are preallocated (16 MiB each, zero-filled)
	// and recycled, whatever is written: what a burst can grow is the
	// streams, which is what is measured here.
	journalDir := recorder.JournalDir(store)
	var size int64
	filepath.WalkDir(store.Dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == journalDir {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				size += info.Size()
			}
		}
		return nil
	})
	if size > 64<<10 {
		t.Errorf("the burst of %d connections with 200 KiB user names left %d bytes of recordings, want under 64 KiB", burst, size)
	}
}

// testHardeningDosStatusRevoked: `gatehouse status` showed a revoked
// certificate as valid and exited 0. It asks the server's revocation
// list now, and fails saying what to run. A fresh login of alice is
// revoked, so that her first certificate, which later tests use, is not.
func testHardeningDosStatusRevoked(t *testing.T, w *world, _ profile) {
	p := w.newProfile("dos-status")
	if res := w.authCodeLogin(p, alice); res.err != nil {
		t.Fatalf("login: %v\n%s", res.err, res.out)
	}
	status := func() (string, error) {
		cmd := exec.Command(w.bin, "status", "--profile", p.name)
		cmd.Env = p.env()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := status()
	if err != nil {
		t.Fatalf("status of a fresh certificate: %v\n%s", err, out)
	}
	mustContain(t, "status before revocation", out, "revoked:  no (checked with "+w.apiURL)

	serial := readCert(t, p.cert()).Serial
	w.gatehouse("revoke", "--config", w.cfgPath, "--serial", fmt.Sprint(serial), "--reason", "e2e: status must say so")
	// serve reads the revocation list every second.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if out, err = status(); err != nil || time.Now().After(deadline) {
			break
		}
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("status of a revoked certificate: %v, want exit status 1\n%s", err, out)
	}
	mustContain(t, "status after revocation", out, "revoked:  YES",
		fmt.Sprintf("certificate serial %d is revoked: run gatehouse login", serial))
}

// streamEvents reads every stream of a kind, checking each chain.
func streamEvents(t *testing.T, store recorder.FileStore, kind string) (streams int, events []recorder.Event) {
	t.Helper()
	ids, err := store.List(kind)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		lines, err := store.Lines(kind, id)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := recorder.VerifyChain(lines)
		if err != nil {
			t.Fatalf("%s stream %s: %v", kind, id, err)
		}
		events = append(events, evs...)
	}
	return len(ids), events
}

// eventsOf returns the payloads of the events of one type.
func eventsOf(events []recorder.Event, typ event.Type) []string {
	var out []string
	for _, ev := range events {
		if ev.Type == typ {
			out = append(out, string(ev.Data))
		}
	}
	return out
}
