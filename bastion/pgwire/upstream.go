package pgwire

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// connectUpstream connects to the database as up says, with the client's
// allowed parameters under up's run-time parameters, then takes the
// connection over from pgconn (Hijack) to relay it message by message.
// TLS modes, SCRAM and md5 are pgconn's work, given up.Config. The relay
// reads the database through the returned reader (see upstreamInput).
func connectUpstream(ctx context.Context, s Startup, up *Upstream, maxBody int) (*pgconn.HijackedConn, *upstreamReader, error) {
	if up == nil || up.Config == nil {
		return nil, nil, &Error{Code: codeInternalError, Message: "gatehouse: no upstream configured", Err: errors.New("Authorize returned no Upstream.Config")}
	}
	hc, in, err := hijackUpstream(ctx, s, up, maxBody)
	if err != nil {
		return nil, nil, err
	}
	return hc, newUpstreamReader(in, maxBody), nil
}

// hijackUpstream connects and hijacks, and returns what the hijacked
// Frontend read from, emptied.
func hijackUpstream(ctx context.Context, s Startup, up *Upstream, maxBody int) (*pgconn.HijackedConn, io.Reader, error) {
	cfg := up.Config.Copy()
	params := make(map[string]string, len(cfg.RuntimeParams)+len(s.Params)+len(up.RuntimeParams))
	for _, m := range []map[string]string{cfg.RuntimeParams, s.Params, up.RuntimeParams} {
		for k, v := range m {
			params[k] = v
		}
	}
	cfg.RuntimeParams = params
	// Never ask the upstream for 3.2: gatehouse speaks 3.0 to the client,
	// and PostgreSQL ≤ 16 behind a proxy that did broke (warpgate#2039).
	cfg.MinProtocolVersion, cfg.MaxProtocolVersion = "3.0", "3.0"
	cfg.MaxProtocolMessageBodyLen = maxBody
	inputs := &upstreamInputs{build: cfg.BuildFrontend}
	cfg.BuildFrontend = inputs.buildFrontend

	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, connectFailure(err, cfg.Password)
	}
	// Hijack wants an idle connection with nothing buffered.
	if err := conn.SyncConn(ctx); err != nil {
		conn.Close(context.Background())
		return nil, nil, connectFailure(err, cfg.Password)
	}
	hc, err := conn.Hijack()
	if err != nil {
		conn.Close(context.Background())
		return nil, nil, connectFailure(err, cfg.Password)
	}
	in, err := inputs.takeOver(hc)
	if err != nil {
		hc.Conn.Close()
		return nil, nil, &Error{Code: codeInternalError, Message: "gatehouse: cannot connect to the database", Err: err}
	}
	return hc, in, nil
}

// connectFailure is what the client is told when the upstream connection
// fails: the database's own refusal when it sent one, else the kind of
// failure. Addresses stay out of it; the password cannot be in it, even if
// a server echoed it, since every text passes through scrub. The full
// (scrubbed) error is kept for the logs.
func connectFailure(err error, password string) *Error {
	code, msg := codeUnableToConnect, "gatehouse: cannot connect to the database"
	var pgErr *pgconn.PgError
	var opErr *net.OpError
	switch {
	case errors.As(err, &pgErr):
		code, msg = pgErr.Code, "gatehouse: the database refused the connection: "+pgErr.Message
	case errors.Is(err, context.Canceled):
		code, msg = codeAdminShutdown, "gatehouse: session ended while connecting to the database"
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		msg = "gatehouse: the database did not answer in time"
	case isTLSError(err):
		msg = "gatehouse: TLS with the database failed"
	case errors.As(err, &opErr):
		msg = "gatehouse: the database is unreachable"
	}
	return &Error{Code: code, Message: scrub(msg, password), Err: errors.New(scrub(err.Error(), password))}
}

func isTLSError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
		alert    tls.AlertError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
	)
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) ||
		strings.Contains(err.Error(), "tls error") || strings.Contains(err.Error(), "server refused TLS")
}

// sessionInfo describes the session for OnStart.
func sessionInfo(s Startup, hc *pgconn.HijackedConn) SessionInfo {
	info := SessionInfo{
		Startup:          s,
		UpstreamUser:     hc.Config.User,
		UpstreamDatabase: hc.Config.Database,
		UpstreamPID:      hc.PID,
		ServerVersion:    hc.ParameterStatuses["server_version"],
		TLS:              hc.TLSConfig != nil,
		ProtocolVersion:  "3.0",
	}
	if a := hc.Conn.RemoteAddr(); a != nil {
		info.UpstreamAddr = a.String()
	}
	if tc, ok := hc.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		info.TLSVersion = tls.VersionName(tc.ConnectionState().Version)
	}
	return info
}
