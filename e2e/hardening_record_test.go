//go:build servers

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Issue 12, items 14 to 18: the record. What an agent that wants its
// actions out of the record, or a lie in front of the auditor, tries.

// testHardeningRecordTruncation: a closed session cut after one of its
// checkpoints, its manifest deleted, and gatehouse restarted, is not
// laundered into a crash: recovery leaves it, and verify fails it. It
// runs on a second gatehouse (the same keys and targets, a data_dir of
// its own), since it must be stopped and restarted, and leaves a
// recording that fails verification by design.
func testHardeningRecordTruncation(t *testing.T, w *world, alice profile) {
	side := newSideServer(t, w)
	side.start()
	port, stop := w.startTunnelVia(t, side.sshConfig(w, alice), "gatehouse", "orders")
	if out, err := psql(t, port, "SELECT 'before the checkpoint'"); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	time.Sleep(recorder.DefaultCheckpointInterval + time.Second) // the idle checkpoint signs it
	if out, err := psql(t, port, "SELECT 'after the checkpoint'"); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	stop()
	id := side.waitClosed(t, "after the checkpoint")
	side.stop()

	store := side.store()
	lines, err := store.Lines(recorder.KindSession, id)
	if err != nil {
		t.Fatal(err)
	}
	cut := -1
	for i, l := range lines {
		if ev, _ := recorder.Decode(l); ev.Type == event.TypeCheckpoint {
			cut = i + 1
			break
		}
	}
	if cut < 0 || cut == len(lines) {
		t.Fatalf("no checkpoint before the session's end in %d lines", len(lines))
	}
	stream := filepath.Join(store.Dir, recorder.KindSession, id+".jsonl")
	writeFile(t, stream, append(bytes.Join(lines[:cut], []byte("\n")), '\n'))
	if err := os.Remove(filepath.Join(store.Dir, recorder.KindSession, id+".manifest.json")); err != nil {
		t.Fatal(err)
	}

	side.start()
	if _, err := store.Manifest(recorder.KindSession, id); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("recovery signed a manifest for the cut session (%v)\n%s", err, side.log())
	}
	mustContain(t, "the log of the restart", side.log(), "recording recovery failed", id, "records the stream closed with")
	out, code := side.gatehouse(t, "verify", "--config", side.cfg, id)
	if code != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "records the stream closed with") {
		t.Fatalf("verify of the cut session: exit %d (want 1)\n%s", code, out)
	}
}

// testHardeningRecordHugeStatement: a 3 MiB statement of '<' (six bytes
// each once HTML-escaped, as recordings were written: an 18 MiB line)
// leaves a session that verify, replay and sessions read; the record
// keeps the first 64 KiB of the text with the whole text's length and
// hash; and the recording is greppable (`id > 1` stands as it is).
func testHardeningRecordHugeStatement(t *testing.T, w *world, alice profile) {
	before := w.sessionIDs(t)
	port, stop := w.startTunnel(t, w.sshConfig(alice), "orders")
	huge := "SELECT length('" + strings.Repeat("<", 3<<20) + "')"
	file := filepath.Join(t.TempDir(), "huge.sql")
	writeFile(t, file, []byte(huge))
	if out, err := psqlAs(t, port, "readonly", "", "-f", file); err != nil || out != fmt.Sprint(3<<20) {
		t.Fatalf("psql -f a 3 MiB statement: %q, %v", out, err)
	}
	if out, err := psql(t, port, "SELECT id FROM customers WHERE id > 1"); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	stop()
	events := w.newSessionEvents(t, before)
	sum := sha256.Sum256([]byte(huge))
	ev := findEvent(t, events, "db.statement", fmt.Sprintf(`"text_bytes":%d,"text_sha256":"%s"`, len(huge), hex.EncodeToString(sum[:])))
	id := ev.Stream
	if len(ev.Data) > 1<<20 {
		t.Errorf("the statement's record is %d bytes", len(ev.Data))
	}
	data, err := os.ReadFile(filepath.Join(w.store().Dir, recorder.KindSession, id+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("WHERE id > 1")) {
		t.Errorf("grep 'WHERE id > 1' finds nothing in the recording")
	}
	out := w.gatehouse("verify", "--config", w.cfgPath, id)
	mustContain(t, "verify of the session", out, "OK          "+id)
	out = w.gatehouse("replay", "--config", w.cfgPath, "--no-wait", id)
	mustContain(t, "replay of the session", out, "recording: verified", "SELECT length('<<<<", "WHERE id > 1")
	out = w.gatehouse("sessions", "--config", w.cfgPath)
	mustContain(t, "sessions", out, id)
}

// hostileText is what an agent writes to rewrite the auditor's
// terminal: go up a line, erase it, return to its start, print a line of
// its own, reverse what follows.
const hostileText = "\x1b[1A\x1b[2K\rALLOW (rule readonly) SELECT 1\u202e\u2066"

// testHardeningRecordTerminal: a denied statement and a direct-tcpip host
// name carrying escape sequences and bidirectional controls are shown by
// replay and sessions with those characters escaped, never raw.
func testHardeningRecordTerminal(t *testing.T, w *world, alice profile) {
	before := w.sessionIDs(t)
	port, stop := w.startTunnel(t, w.sshConfig(alice), "orders")
	out, err := psql(t, port, "DELETE FROM customers /* "+hostileText+" */")
	if err == nil {
		t.Fatalf("DELETE under readonly succeeded: %s", out)
	}
	stop()
	client := dialSSH(t, w, alice)
	// RFC 4254 §7.2, sent as it is (Client.Dial would refuse the '[').
	open := gossh.Marshal(struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}{"orders" + hostileText, uint32(w.pg.Port), "127.0.0.1", 1})
	var refused *gossh.OpenChannelError
	if ch, _, err := client.OpenChannel("direct-tcpip", open); !errors.As(err, &refused) {
		if ch != nil {
			ch.Close()
		}
		t.Fatalf("a channel to a host name with escape sequences: %v, want it refused", err)
	}
	client.Close()
	events := w.newSessionEvents(t, before)
	var ids []string
	for _, id := range []string{
		findEvent(t, events, "db.statement", "DELETE FROM customers", `"decision":"deny"`).Stream,
		findEvent(t, events, "channel.refused", `\u001b[2K`).Stream,
	} {
		ids = append(ids, id)
		out := w.gatehouse("replay", "--config", w.cfgPath, "--no-wait", id)
		checkShownSafely(t, "replay "+id, out)
		mustContain(t, "replay "+id, out, `\x1b[2K`, `\u202e\u2066`)
	}
	out = w.gatehouse("sessions", "--config", w.cfgPath)
	checkShownSafely(t, "sessions", out)
	mustContain(t, "sessions", out, ids...)
}

// checkShownSafely fails if out holds a character a terminal acts on or
// hides, but the newlines that end its own lines.
func checkShownSafely(t *testing.T, what, out string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		for _, r := range line {
			if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
				t.Errorf("%s: line %d holds %U raw: %q", what, i+1, r, line)
				break
			}
		}
	}
}

// dialSSH connects to the bastion as a protocol-level client with a
// profile's certificate, to send what OpenSSH would not.
func dialSSH(t *testing.T, w *world, p profile) *gossh.Client {
	t.Helper()
	client, err := gossh.Dial("tcp", w.sshAddr, &gossh.ClientConfig{
		User: "alice", Auth: []gossh.AuthMethod{gossh.PublicKeys(profileSigner(t, p))},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// testHardeningRecordCancel: a CancelRequest sent through a second SSH
// connection stops the first session's statement, and is recorded in
// both streams: who sent it (db.cancel, naming the session it hit) and,
// in the session it hit, who stopped it (db.cancelled). A key that names
// no session is recorded as an unmatched probe.
func testHardeningRecordCancel(t *testing.T, w *world, alice profile) {
	config := w.sshConfig(alice)
	before := w.sessionIDs(t)
	portA, stopA := w.startTunnel(t, config, "orders")
	portB, stopB := w.startTunnel(t, config, "orders") // a second SSH connection
	conn := pgxThrough(t, portA, pgx.QueryExecModeSimpleProtocol)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SELECT pg_sleep(30) /* gatehouse-record-cancel */")
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !w.upstreamRunning(t, "gatehouse-record-cancel") {
		if time.Now().After(deadline) {
			t.Fatal("the statement to cancel never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sendCancel(t, portB, conn.PgConn().PID(), conn.PgConn().SecretKey())
	select {
	case err := <-done:
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("the cancelled statement ended with %v, want SQLSTATE 57014", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the statement was not cancelled")
	}
	sendCancel(t, portB, conn.PgConn().PID()^0x5a5a, []byte{1, 2, 3, 4}) // a probe
	conn.Close(ctx)
	stopA()
	stopB()
	events := w.newSessionEvents(t, before)
	hit := findEvent(t, events, "db.cancelled", "alice@example.com")
	sent := findEvent(t, events, "db.cancel", `"matched":true`, `"target_session":"`+hit.Stream+`"`)
	if sent.Stream == hit.Stream || !strings.Contains(string(hit.Data), `"by_session":"`+sent.Stream+`"`) {
		t.Fatalf("db.cancel in %s: %s\ndb.cancelled in %s: %s", sent.Stream, sent.Data, hit.Stream, hit.Data)
	}
	probe := findEvent(t, events, "db.cancel", `"matched":false`)
	if probe.Stream != sent.Stream {
		t.Errorf("the probe was recorded in %s, not in the session that sent it (%s)", probe.Stream, sent.Stream)
	}
}

// sendCancel sends a CancelRequest (protocol §55.2.8) through a tunnel
// and waits for the proxy to close the connection, as PostgreSQL does.
func sendCancel(t *testing.T, port int, pid uint32, secret []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := binary.BigEndian.AppendUint32(nil, uint32(12+len(secret)))
	msg = binary.BigEndian.AppendUint32(msg, 80877102)
	msg = append(binary.BigEndian.AppendUint32(msg, pid), secret...)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the cancel connection did not close: %v", err)
	}
}

// sideServer is a second gatehouse serve with the world's keys, targets
// and identity provider, and a data_dir of its own, for tests that stop
// and restart it or leave its recordings failing on purpose.
type sideServer struct {
	w                     *world
	dir, cfg              string
	sshAddr, apiURL, logf string
	cmd                   *exec.Cmd
	exited                chan error
}

func newSideServer(t *testing.T, w *world) *sideServer {
	t.Helper()
	s := &sideServer{w: w, dir: t.TempDir()}
	s.sshAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	apiAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	s.apiURL, s.cfg, s.logf = "http://"+apiAddr, filepath.Join(s.dir, "gatehouse.yaml"), filepath.Join(s.dir, "serve.log")
	err := filepath.WalkDir(w.dataDir, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(w.dataDir, path)
		switch {
		case err != nil:
			return err
		case d.IsDir() && rel == "recordings":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(s.dir, rel), 0o700)
		case rel == "gatehouse.yaml" || strings.HasSuffix(rel, ".log") || !d.Type().IsRegular():
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(s.dir, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(w.dataDir, s.dir, w.sshAddr, s.sshAddr, strings.TrimPrefix(w.apiURL, "http://"), apiAddr).Replace(string(cfg))
	writeFile(t, s.cfg, []byte(text))
	t.Cleanup(s.stop)
	return s
}

func (s *sideServer) start() {
	t := s.w.t
	logFile, err := os.OpenFile(s.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(s.w.bin, "serve", "--config", s.cfg)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	s.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, exited chan error) { exited <- cmd.Wait() }(s.cmd, s.exited)
	deadline := time.Now().Add(30 * time.Second)
	for !apiUp(s.apiURL) || !tcpUp(s.sshAddr) {
		select {
		case err := <-s.exited:
			s.cmd = nil
			t.Fatalf("the second gatehouse serve exited: %v\n%s", err, s.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second gatehouse serve is not ready after 30s\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server as an operator does (SIGINT), if it runs.
func (s *sideServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func (s *sideServer) log() string {
	b, _ := os.ReadFile(s.logf)
	return string(b)
}

func (s *sideServer) store() recorder.FileStore {
	return recorder.FileStore{Dir: filepath.Join(s.dir, "recordings")}
}

// sshConfig is a profile's ssh_config, pointed at this server.
func (s *sideServer) sshConfig(w *world, p profile) string {
	data, err := os.ReadFile(w.sshConfig(p))
	if err != nil {
		w.t.Fatal(err)
	}
	_, oldPort, _ := net.SplitHostPort(w.sshAddr)
	_, newPort, _ := net.SplitHostPort(s.sshAddr)
	path := filepath.Join(w.t.TempDir(), "ssh_config")
	writeFile(w.t, path, []byte(strings.Replace(string(data), "Port "+oldPort, "Port "+newPort, 1)))
	return path
}

// waitClosed waits for the session whose recording holds text to be
// closed (its manifest written) and returns its id.
func (s *sideServer) waitClosed(t *testing.T, text string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ids, _ := s.store().List(recorder.KindSession)
		for _, id := range ids {
			lines, _ := s.store().Lines(recorder.KindSession, id)
			_, err := s.store().Manifest(recorder.KindSession, id)
			if err == nil && bytes.Contains(bytes.Join(lines, nil), []byte(text)) {
				return id
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no closed session recording %q after 15s\n%s", text, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gatehouse runs the binary and returns its output and exit status.
func (s *sideServer) gatehouse(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(s.w.bin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return string(out), 0
}
