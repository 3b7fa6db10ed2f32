package bastion

import (
	"fmt"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// sessionAnswer is how the bastion answers one request on a session
// channel. Every request is refused; they differ in whether the refusal
// is worth recording and whether it ends the channel.
type sessionAnswer struct {
	record   bool // false for routine requests (env, window-change)
	terminal bool // shell, exec, subsystem: the client waits for an end
	detail   string
	reason   string
	message  string // written to the channel's stderr
}

// answerSessionRequest decides the answer to a session request
// (RFC 4254 §6). example is a command that would work instead.
func answerSessionRequest(req *gossh.Request, example string) sessionAnswer {
	instead := "gatehouse only forwards to database targets, e.g. " + example
	switch req.Type {
	case "shell":
		return sessionAnswer{record: true, terminal: true,
			reason:  "shell access is not allowed",
			message: "gatehouse: shell access is not allowed; " + instead}
	case "exec":
		return sessionAnswer{record: true, terminal: true, detail: clip.Detail(firstString(req.Payload)),
			reason:  "running commands is not allowed",
			message: "gatehouse: running commands is not allowed; " + instead}
	case "subsystem":
		name := clip.Detail(firstString(req.Payload))
		return sessionAnswer{record: true, terminal: true, detail: name,
			reason:  "subsystems are not allowed",
			message: fmt.Sprintf("gatehouse: subsystem %q is not available; %s", name, instead)}
	case "pty-req":
		return sessionAnswer{record: true, detail: clip.Detail(firstString(req.Payload)),
			reason:  "terminals are not allowed",
			message: "gatehouse: no terminal: gatehouse does not run shells or commands"}
	case "x11-req":
		return sessionAnswer{record: true,
			reason:  "X11 forwarding is not allowed",
			message: "gatehouse: X11 forwarding is not allowed"}
	case "auth-agent-req@openssh.com":
		return sessionAnswer{record: true,
			reason:  "agent forwarding is not allowed",
			message: "gatehouse: agent forwarding is not allowed"}
	case "env", "window-change", "keepalive@openssh.com":
		return sessionAnswer{}
	default:
		return sessionAnswer{record: true,
			reason:  "session request not supported",
			message: fmt.Sprintf("gatehouse: %q requests are not supported; %s", req.Type, instead)}
	}
}

// session accepts a session channel only to refuse what is asked on it
// with a message the user sees on stderr, which a rejected channel open
// would not allow.
func (cs *connState) session(nc gossh.NewChannel) {
	id := cs.nextChannel()
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	closed := false
	// Ranging until x/crypto closes reqs keeps the connection's mux
	// reading: it ends once both sides closed the channel or the
	// connection is gone.
	for req := range reqs {
		ans := answerSessionRequest(req, cs.example())
		if ans.record {
			_ = cs.record(event.TypeRequestRefused, event.RequestRefused{Channel: id, Type: clip.Name(req.Type), Detail: ans.detail, Reason: ans.reason})
		}
		if closed {
			_ = req.Reply(false, nil)
			continue
		}
		// A refused shell, exec or subsystem is answered as a command that
		// printed the refusal and failed: success, stderr, exit-status 1,
		// close. Answering failure would lose the message: OpenSSH exits at
		// once on a failed request of its primary session channel,
		// dropping stderr it has not yet written out (clientloop.c,
		// client_status_confirm). Other requests leave the channel open,
		// so a failure answer and the message both reach the user.
		_ = req.Reply(ans.terminal, nil)
		if ans.message != "" {
			_, _ = ch.Stderr().Write([]byte(ans.message + "\n"))
		}
		if ans.terminal {
			closed = true
			endSession(ch)
		}
	}
}

// endSession ends a session channel the way a failed command does: EOF,
// exit-status 1, close (RFC 4254 §6.10).
func endSession(ch gossh.Channel) {
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{1}))
	_ = ch.Close()
}
