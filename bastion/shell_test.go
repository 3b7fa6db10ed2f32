package bastion

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
	gossh "golang.org/x/crypto/ssh"
)

func TestSessionRefusals(t *testing.T) {
	cases := []struct {
		name   string
		run    func(s *gossh.Session) error
		stderr []string
		want   []map[string]any // request.refused payloads, in order
	}{
		{
			name: "interactive shell",
			run: func(s *gossh.Session) error {
				if err := s.RequestPty("xterm-256color", 40, 80, gossh.TerminalModes{}); err == nil {
					return errors.New("pty-req granted")
				}
				if err := s.Setenv("LANG", "C"); err == nil {
					return errors.New("env granted")
				}
				return s.Shell()
			},
			stderr: []string{
				"gatehouse: no terminal: gatehouse does not run shells or commands\n",
				"gatehouse: shell access is not allowed; gatehouse only forwards to database targets, e.g. ssh -N -L PORT:orders:PORT gatehouse\n",
			},
			want: []map[string]any{
				{"channel": 1, "type": "pty-req", "detail": "xterm-256color", "reason": "terminals are not allowed"},
				{"channel": 1, "type": "shell", "reason": "shell access is not allowed"},
			},
		},
		{
			name:   "exec",
			run:    func(s *gossh.Session) error { return s.Start("cat /etc/passwd") },
			stderr: []string{"gatehouse: running commands is not allowed; gatehouse only forwards to database targets"},
			want: []map[string]any{
				{"channel": 1, "type": "exec", "detail": "cat /etc/passwd", "reason": "running commands is not allowed"},
			},
		},
		{
			name:   "subsystem",
			run:    func(s *gossh.Session) error { return s.RequestSubsystem("sftp") },
			stderr: []string{`gatehouse: subsystem "sftp" is not available`},
			want: []map[string]any{
				{"channel": 1, "type": "subsystem", "detail": "sftp", "reason": "subsystems are not allowed"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			client := f.login(f.goodCert())
			sess, err := client.NewSession()
			if err != nil {
				t.Fatalf("session channels open (only to carry the refusal): %v", err)
			}
			stderr, err := sess.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			// A refused shell, exec or subsystem runs as a command that
			// prints the refusal and fails, so that OpenSSH shows it.
			if err := tc.run(sess); err != nil {
				t.Fatal(err)
			}
			msg, err := io.ReadAll(stderr)
			if err != nil {
				t.Fatal(err)
			}
			// x/crypto's RequestSubsystem does not start the session, so
			// only shell and exec can be waited for.
			var exit *gossh.ExitError
			if err := sess.Wait(); tc.name != "subsystem" && (!errors.As(err, &exit) || exit.ExitStatus() != 1) {
				t.Errorf("session ended with %v, want exit status 1", err)
			}
			for _, want := range tc.stderr {
				want = strings.ReplaceAll(want, "PORT", strconv.Itoa(f.port("orders")))
				if !strings.Contains(string(msg), want) {
					t.Errorf("stderr %q lacks %q", msg, want)
				}
			}
			sess.Close()
			client.Close()

			evs := f.events()
			got := only(t, evs, event.TypeRequestRefused)
			if len(got) != len(tc.want) {
				t.Fatalf("request.refused events %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				for k, v := range w {
					wantField(t, got[i], k, v)
				}
			}
		})
	}
}

// TestSessionSideRequests: agent and X11 forwarding are refused and
// recorded without ending the channel; env is refused silently.
func TestSessionSideRequests(t *testing.T) {
	f := newFixture(t)
	client := f.login(f.goodCert())
	ch, reqs, err := client.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go gossh.DiscardRequests(reqs)
	for _, req := range []string{"auth-agent-req@openssh.com", "x11-req", "env", "x-unknown@example.com"} {
		ok, err := ch.SendRequest(req, true, nil)
		if ok || err != nil {
			t.Errorf("%s: ok %v, err %v; want a refusal", req, ok, err)
		}
	}
	ch.Close()
	client.Close()

	got := only(t, f.events(), event.TypeRequestRefused)
	var typs []string
	for _, ev := range got {
		typs = append(typs, ev["type"].(string))
	}
	want := "auth-agent-req@openssh.com x11-req x-unknown@example.com"
	if strings.Join(typs, " ") != want {
		t.Errorf("recorded refusals %v, want %s", typs, want)
	}
	wantField(t, got[0], "reason", "agent forwarding is not allowed")
	wantField(t, got[1], "reason", "X11 forwarding is not allowed")
}
