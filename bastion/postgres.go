package bastion

import (
	"strings"
	"sync/atomic"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// Database session events (docs/recording-format.md).
const (
	evDBStart     = "db.session.start"
	evDBEnd       = "db.session.end"
	evDBStatement = "db.statement"
)

type dbStart struct {
	Channel         int    `json:"channel"`
	Target          string `json:"target"`
	Role            string `json:"role"`
	Database        string `json:"database"`
	UpstreamUser    string `json:"upstream_user"`
	UpstreamTLS     bool   `json:"upstream_tls"`
	TLSVersion      string `json:"tls_version,omitempty"`
	ServerVersion   string `json:"server_version,omitempty"`
	Statements      string `json:"statements"` // the statement policy in force ("" = none)
	ReadOnly        bool   `json:"read_only"`
	ProtocolVersion string `json:"protocol_version"`
	ClientApp       string `json:"application_name,omitempty"`
	Identity        string `json:"identity"`
	VaultLeaseID    string `json:"vault_lease_id,omitempty"` // credentials.vault: the lease, never the password
}

type dbEnd struct {
	Channel int    `json:"channel"`
	Reason  string `json:"reason"`
	Error   string `json:"error,omitempty"`
}

// proxyPostgres serves a direct-tcpip channel to a postgres target through
// bastion/pgwire: the client never reaches the database but through the
// statement policy, and never holds its credentials.
func (cs *connState) proxyPostgres(id int, nc gossh.NewChannel, target string, spec *policy.Target, roles []string) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = cs.record(evChannelClose, channelClose{Channel: id, Error: "accept channel: " + err.Error()})
		return
	}
	go gossh.DiscardRequests(reqs) // ends when the channel closes
	cred := cs.credential()
	s := &pgSession{
		cs: cs, channel: id, target: target, spec: spec, roles: roles,
		identity: cred.identity, agent: cred.identity.Agent != "", cert: certKey(cred.cert),
		prepared: map[string]preparedStatement{},
	}
	defer s.releaseCredentials()
	defer func() {
		if s.release != nil {
			s.release()
		}
	}()
	defer s.closeMasking()
	counted := &countingChannel{Channel: ch}
	err = pgwire.Serve(cs.ctx, counted, s.config())
	ev := channelClose{Channel: id, BytesToTarget: counted.in.Load(), BytesFromTarget: counted.out.Load()}
	if err != nil {
		ev.Error = clip.Detail(err.Error()) // a refusal may quote the client's startup
	}
	_ = cs.record(evChannelClose, ev)
}

// config binds pgwire's hooks to this session's grants and recording.
func (s *pgSession) config() pgwire.Config {
	srv := s.cs.srv
	return pgwire.Config{
		Authorize:        s.authorize,
		Inspect:          s.inspectDurable,
		Bind:             s.bind,
		Observe:          s.observe,
		OnStart:          s.onStart,
		OnEnd:            s.onEnd,
		HandshakeTimeout: srv.handshakeTimeout,
		Cancels:          srv.cancels,
		CancelTarget:     s,
		OnCancel:         s.onCancel,
		Logger:           s.cs.log.With("channel", s.channel, "target", s.target),
		Now:              srv.cfg.Clock,
	}
}

func (s *pgSession) onStart(info pgwire.SessionInfo) error {
	return s.cs.record(evDBStart, dbStart{
		Channel: s.channel, Target: s.target, Role: s.role, Database: clip.Name(info.UpstreamDatabase),
		UpstreamUser: info.UpstreamUser, UpstreamTLS: info.TLS, TLSVersion: info.TLSVersion,
		ServerVersion: info.ServerVersion, Statements: s.policyName, ReadOnly: s.readOnly,
		ProtocolVersion: info.ProtocolVersion, ClientApp: clip.Name(info.Startup.Params["application_name"]),
		Identity: s.identity.Name(), VaultLeaseID: s.leaseID(),
	})
}

func (s *pgSession) onEnd(end pgwire.SessionEnd) {
	ev := dbEnd{Channel: s.channel, Reason: end.Reason}
	if end.Err != nil {
		ev.Error = clip.Detail(end.Err.Error())
	}
	_ = s.cs.record(evDBEnd, ev)
}

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

// grantsText lists a certificate's grants on one target for messages.
func grantsText(target string, roles []string) string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = target + ":" + r
	}
	return strings.Join(out, ", ")
}
