package pgsession

import (
	"context"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Serve runs one PostgreSQL session over a channel the client opened to
// a postgres target, through bastion/pgwire: the client never reaches the
// database but through the statement policy, and never holds its
// credentials. It returns when the session is over, having released all
// it held (its place under the target's limits, its lease, its share of a
// lineage connection); the error, if any, is why the session failed.
func (p *Proxy) Serve(ctx context.Context, client io.ReadWriteCloser, ch Channel) error {
	p.serving.Add(1)
	defer p.serving.Done()
	s := &pgSession{
		p: p, conn: ch.Conn, stream: ch.Stream, log: ch.Logger, sessionID: ch.Session,
		channel: ch.ID, target: ch.Target, spec: ch.Spec, roles: ch.Roles,
		identity: ch.Identity, agent: ch.Identity.Agent != "", cert: certKey(ch.Cert),
		prepared: map[string]preparedStatement{},
	}
	defer s.releaseCredentials()
	defer func() {
		if s.release != nil {
			s.release()
		}
	}()
	defer s.closeMasking()
	return pgwire.Serve(ctx, client, s.config())
}

// config binds pgwire's hooks to this session's grants and recording.
func (s *pgSession) config() pgwire.Config {
	return pgwire.Config{
		Authorize:        s.authorize,
		Inspect:          s.inspectDurable,
		Bind:             s.bind,
		Observe:          s.observe,
		OnStart:          s.onStart,
		OnEnd:            s.onEnd,
		HandshakeTimeout: s.p.cfg.HandshakeTimeout,
		Cancels:          &s.p.cancels,
		CancelTarget:     s,
		OnCancel:         s.onCancel,
		Logger:           s.log.With("channel", s.channel, "target", s.target),
		Now:              s.p.cfg.Clock,
	}
}

func (s *pgSession) onStart(info pgwire.SessionInfo) error {
	return s.conn.Record(event.TypeDBSessionStart, event.DBSessionStart{
		Channel: s.channel, Target: s.target, Role: s.role, Database: clip.Name(info.UpstreamDatabase),
		UpstreamUser: info.UpstreamUser, UpstreamTLS: info.TLS, TLSVersion: info.TLSVersion,
		ServerVersion: info.ServerVersion, Statements: s.policyName, ReadOnly: s.readOnly,
		ProtocolVersion: info.ProtocolVersion, ClientApp: clip.Name(info.Startup.Params["application_name"]),
		Identity: s.identity.Name(), VaultLeaseID: s.leaseID(),
	})
}

func (s *pgSession) onEnd(end pgwire.SessionEnd) {
	ev := event.DBSessionEnd{Channel: s.channel, Reason: end.Reason}
	if end.Err != nil {
		ev.Error = clip.Detail(end.Err.Error())
	}
	_ = s.conn.Record(event.TypeDBSessionEnd, ev)
}

// grantsText lists a certificate's grants on one target for messages.
func grantsText(target string, roles []string) string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = target + ":" + r
	}
	return strings.Join(out, ", ")
}
