package bastion

import (
	"log/slog"
	"sync/atomic"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/bastion/pgsession"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// proxyPostgres hands a direct-tcpip channel to a postgres target to
// pgsession, which serves the database session on it, and records the
// channel's close.
func (cs *connState) proxyPostgres(id int, nc gossh.NewChannel, target string, spec *policy.Target, roles []string) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = cs.record(event.TypeChannelClose, event.ChannelClose{Channel: id, Error: "accept channel: " + err.Error()})
		return
	}
	go gossh.DiscardRequests(reqs) // ends when the channel closes
	cred := cs.credential()
	counted := &countingChannel{Channel: ch}
	err = cs.srv.pg.Serve(cs.ctx, counted, pgsession.Channel{
		Conn: pgConn{cs}, Stream: cs.stream, Session: cs.stream.ID, Logger: cs.log, ID: id,
		Target: target, Spec: spec, Roles: roles, Identity: cred.identity, Cert: cred.cert,
	})
	ev := event.ChannelClose{Channel: id, BytesToTarget: counted.in.Load(), BytesFromTarget: counted.out.Load()}
	if err != nil {
		ev.Error = clip.Detail(err.Error()) // a refusal may quote the client's startup
	}
	_ = cs.record(event.TypeChannelClose, ev)
}

// pgConn is the connection as pgsession records through it and fails it.
type pgConn struct{ cs *connState }

func (c pgConn) Record(typ event.Type, data any) error { return c.cs.record(typ, data) }

func (c pgConn) RecordOutcome(typ event.Type, data any, level slog.Level) error {
	return c.cs.emit(c.cs.stream.EmitLazy, typ, data, level)
}

func (c pgConn) Fail(cause error) { c.cs.conn.closeWith(cause) }

// countingChannel counts the bytes of a channel in both directions, for
// channel.close.
type countingChannel struct {
	gossh.Channel
	in, out atomic.Int64 // client → gatehouse, gatehouse → client
}

func (c *countingChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingChannel) Write(p []byte) (int, error) {
	n, err := c.Channel.Write(p)
	c.out.Add(int64(n))
	return n, err
}
