//go:build servers

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

// The environment variables the S3 configuration names for its keys.
const (
	s3AccessEnv = "GATEHOUSE_TEST_S3_ACCESS"
	s3SecretEnv = "GATEHOUSE_TEST_S3_SECRET"
)

const s3WorldConfig = `
data_dir: %s
ssh:
  listen: %s
ca:
  listen: %s
targets:
  echo:
    protocol: tcp
    address: %s
    roles:
      direct: {}
%s
recording:
  store: s3
%s
  s3:
    endpoint: %s
    bucket: %s
    access_key_env: ` + s3AccessEnv + `
    secret_key_env: ` + s3SecretEnv + `
    retention: 1h
    mode: compliance
    create_bucket: true
%s
%s
`

// s3World is a gatehouse recording to MinIO, with one tcp target (a
// one-line echo server) and no IdP: certificates come from `ca sign`.
type s3World struct {
	t                        *testing.T
	bin, dataDir, cfgPath    string
	sshAddr, apiURL, logPath string
	echoAddr                 string
	env                      []string
	starts                   int
	proc                     *os.Process // of the last serve
}

func newS3World(t *testing.T, m *testenv.MinIO, bucket string) *s3World {
	return newS3WorldWith(t, m, bucket, s3Extra{})
}

// s3Extra is configuration added to s3WorldConfig: YAML lines indented
// for their place (targets, recording, recording.s3).
type s3Extra struct{ targets, recording, s3, top string }

func newS3WorldWith(t *testing.T, m *testenv.MinIO, bucket string, extra s3Extra) *s3World {
	t.Helper()
	w := &s3World{t: t, bin: gatehouseBinary(t), dataDir: t.TempDir()}
	w.env = append(os.Environ(), s3AccessEnv+"="+m.AccessKey, s3SecretEnv+"="+m.SecretKey)
	w.sshAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	apiAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w.apiURL = "http://" + apiAddr
	w.cfgPath = filepath.Join(w.dataDir, "gatehouse.yaml")
	w.echoAddr = startEcho(t)
	cfg := fmt.Sprintf(s3WorldConfig, w.dataDir, w.sshAddr, apiAddr, w.echoAddr, extra.targets, extra.recording, m.Endpoint, bucket, extra.s3, extra.top)
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.run("ca", "init", "--config", w.cfgPath)
	return w
}

// startEcho serves one line back to each connection, then closes it.
func startEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					c.Write([]byte("echo: " + line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func (w *s3World) command(args ...string) *exec.Cmd {
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	return cmd
}

func (w *s3World) run(args ...string) string {
	w.t.Helper()
	out, err := w.command(args...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serve starts `gatehouse serve`; ready waits for its listeners, or for it
// to exit, whose error and output it returns then.
func (w *s3World) serve() (exited <-chan error) {
	t := w.t
	w.starts++
	w.logPath = filepath.Join(w.dataDir, fmt.Sprintf("serve-%d.log", w.starts))
	logFile, err := os.Create(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := w.command("serve", "--config", w.cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.proc = cmd.Process
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() { done <- cmd.Wait(); close(finished) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-finished:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-finished
		}
		logFile.Close()
	})
	return done
}

func (w *s3World) waitReady(exited <-chan error) {
	t := w.t
	deadline := time.Now().Add(30 * time.Second)
	for !apiUp(w.apiURL) || !tcpUp(w.sshAddr) {
		select {
		case err := <-exited:
			t.Fatalf("gatehouse serve exited: %v\n%s", err, w.serverLog())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse serve not ready after 30s\n%s", w.serverLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *s3World) serverLog() string {
	b, _ := os.ReadFile(w.logPath)
	return string(b)
}

// sshClient is an ssh_config for the world's bastion as Host gatehouse,
// with a key that has a `ca sign` certificate and the host CA's
// known_hosts line.
type sshClient struct{ config string }

// client makes a key, has it certified for grant, and writes its ssh_config.
func (w *s3World) client(grant string) sshClient {
	t := w.t
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	w.run("ca", "sign", "--config", w.cfgPath, "--key", key+".pub", "--identity", "ci@example.com", "--grant", grant, "--ttl", "10m")
	resp, err := http.Get(w.apiURL + "/v1/ca")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		HostCAKnownHosts string `json:"host_ca_known_hosts"`
	}
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || info.HostCAKnownHosts == "" {
		t.Fatalf("GET /v1/ca: %v %+v", err, info)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(info.HostCAKnownHosts+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(w.sshAddr)
	config := filepath.Join(dir, "ssh_config")
	block := fmt.Sprintf("Host gatehouse\n  HostName %s\n  Port %s\n  User ci\n  IdentityFile %s\n  CertificateFile %s-cert.pub\n"+
		"  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  HostKeyAlias gatehouse\n"+
		"  BatchMode yes\n  ConnectTimeout 10\n", host, port, key, key, knownHosts)
	if err := os.WriteFile(config, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return sshClient{config: config}
}

// ssh is an OpenSSH command to the world's bastion as c, with args
// before the destination.
func (w *s3World) ssh(c sshClient, args ...string) *exec.Cmd {
	return exec.Command("ssh", sshArgs(c.config, append(args, "gatehouse")...)...)
}

// sshEcho opens a session with a `ca sign` certificate and sends a line
// through ssh -W to the echo target.
func (w *s3World) sshEcho() string {
	t := w.t
	_, echoPort, _ := net.SplitHostPort(w.echoAddr)
	cmd := w.ssh(w.client("echo:direct"), "-W", "echo:"+echoPort)
	cmd.Stdin = strings.NewReader("hello through s3-recorded gatehouse\n")
	out, err := runWithTimeout(cmd, time.Minute)
	if err != nil {
		t.Fatalf("ssh -W echo: %v\n%s\nserver log:\n%s", err, out, w.serverLog())
	}
	return out
}

// TestS3Recording: gatehouse refuses to start on a bucket without Object
// Lock; with store s3 a session ends up in the bucket, locked, and
// `gatehouse verify` passes reading it from S3.
func TestS3Recording(t *testing.T) {
	requireTools(t, "ssh", "ssh-keygen")
	m := testenv.StartMinIO(t)

	t.Run("bucket without Object Lock refused", func(t *testing.T) {
		err := s3store.MakeBucket(context.Background(), s3store.Config{Endpoint: m.Endpoint, Bucket: "nolock",
			AccessKey: m.AccessKey, SecretKey: m.SecretKey}, false)
		if err != nil {
			t.Fatal(err)
		}
		w := newS3World(t, m, "nolock")
		select {
		case err := <-w.serve():
			if err == nil {
				t.Fatalf("gatehouse serve exited 0 on a bucket without Object Lock\n%s", w.serverLog())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("gatehouse serve still running on a bucket without Object Lock\n%s", w.serverLog())
		}
		mustContain(t, "serve output", w.serverLog(), `bucket "nolock"`, "does not have Object Lock enabled",
			"mc mb --with-lock ALIAS/nolock", "--object-lock-enabled-for-bucket")
	})

	t.Run("session recorded to S3 verifies", func(t *testing.T) {
		w := newS3World(t, m, "recordings")
		w.waitReady(w.serve())
		out := w.sshEcho()
		mustContain(t, "ssh -W output", out, "echo: hello through s3-recorded gatehouse")

		// The session's stream is closed, uploaded and marked in the spool.
		id := w.uploadedSession(t)
		spool := filepath.Join(w.dataDir, "recordings", recorder.KindSession)

		// verify reads the bucket (the spool is moved out of the way to prove it).
		if err := os.Rename(spool, spool+".moved"); err != nil {
			t.Fatal(err)
		}
		got := w.run("verify", "--config", w.cfgPath, id)
		mustContain(t, "verify from S3", got, "OK          "+id, "sessions: ", "ci@example.com")
		got = w.run("verify", "--config", w.cfgPath, "--since", "1h")
		mustContain(t, "verify --since from S3", got, "recordings of kind sessions", " verified, 0 incomplete, 0 failed", "OK          "+id)

		// So do sessions and replay: an auditor needs the bucket, not the server.
		got = w.run("sessions", "--config", w.cfgPath, "--identity", "ci@example.com")
		mustContain(t, "sessions from S3", got, id, "ci@example.com")
		got = w.run("replay", "--config", w.cfgPath, "--no-wait", id)
		mustContain(t, "replay from S3", got, "sessions "+id, "who:       ci@example.com", "recording: verified",
			"auth.success", "channel.open", "session.end")
		// --dir reads a directory instead of the bucket: without the spool
		// the session is not there, with it back it is.
		recordings := filepath.Dir(spool)
		got = w.run("sessions", "--config", w.cfgPath, "--dir", recordings)
		if strings.Contains(got, id) {
			t.Fatalf("sessions --dir listed a session its directory does not hold:\n%s", got)
		}
		if err := os.Rename(spool+".moved", spool); err != nil {
			t.Fatal(err)
		}
		got = w.run("sessions", "--config", w.cfgPath, "--dir", recordings)
		mustContain(t, "sessions --dir", got, id, "ci@example.com")
	})
}
