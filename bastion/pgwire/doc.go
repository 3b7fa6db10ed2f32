// Package pgwire is gatehouse's PostgreSQL relay: it terminates a client's
// PostgreSQL session, connects upstream with credentials the client never
// sees, and relays the session message by message, deciding every SQL
// string before the database sees it.
//
// Serve handles one client connection. The bastion gives it a Config of hook
// functions (Authorize, Inspect, Observe, OnStart, OnEnd, OnCancel, Bind) closed
// over who is on the other end of the tunnel; pgwire imports no other
// gatehouse package.
//
// # Start-up (PostgreSQL protocol §55.2.1)
//
// SSLRequest and GSSENCRequest are answered 'N': the SSH tunnel is the
// encryption. A client asking for protocol 3.2 (libpq 18) or for "_pq_."
// options gets NegotiateProtocolVersion and goes on in 3.0; the upstream is
// only ever asked for 3.0. Start-up parameters pass an allowlist
// (Config.StartupParameters), their names compared without regard to case
// as PostgreSQL does, and kept in lower case; anything else — options,
// replication, role — is refused with a FATAL error naming it, as is a
// parameter given twice in two cases. client_encoding must be one in
// which every byte below 0x80 is ASCII, and standard_conforming_strings must
// stay on, so that the server reads SQL text as gatehouse's parser does.
// Authorize maps the start-up to an Upstream; pgconn connects (TLS, SCRAM,
// md5), and the connection is taken over with pgconn's Hijack. The client
// gets AuthenticationOk without being asked for a password, the upstream's
// ParameterStatus values, a BackendKeyData with the backend's real process
// id (pg_stat_activity, pg_terminate_backend) and a secret of gatehouse's
// own, registered in the shared CancelRegistry with the session's
// Config.CancelTarget, so that a cancel reaches the database only through
// gatehouse, and ReadyForQuery. A connection that sends a CancelRequest
// instead of a start-up is told to OnCancel (with the CancelTarget its key
// names, if any) before the request is forwarded.
//
// # Relay
//
// Two goroutines copy messages: clientToUpstream (Receive, Inspect, encode,
// write) and upstreamToClient. Each encodes into an output buffer it keeps
// for the session and writes it when its peer must act on it or much is
// waiting, not once per message. A denied Query or Parse is not forwarded:
// the database is sent, in its place, a string it rejects with a syntax
// error before running anything (refusedSQL), and that error reaches the
// client as SQLSTATE 42501 with the verdict's message. So the database
// itself keeps the protocol in step: a transaction block becomes failed, an
// extended-protocol pipeline is discarded up to Sync and rolled back, and
// the replies to everything sent before the refused statement arrive first,
// in order. The fast-path FunctionCall, which names a function by OID with
// no SQL to inspect, is refused the same way.
//
// Each reply from the database is matched to the client message it answers
// (replies), which is how a refusal is put in the right place, how each
// Execute is attributed to the statement the server actually holds under
// that portal, and how Observe gets rows, bytes, duration and SQLSTATE per
// statement.
//
// The portals and prepared statements the server holds are followed in
// the order it answers (namespace): Parse, Bind and Close, and the SQL
// statements Inspect reports in Verdict.Names (DECLARE, CLOSE, FETCH,
// PREPARE, DEALLOCATE, DISCARD ALL), with transaction ends and rollbacks.
// PostgreSQL shares one namespace between SQL cursors and protocol
// portals, and one between PREPARE and Parse, so a name swapped through
// the other half is still known for what it is; a name not known exactly
// has no source.
//
// # Between statements: Ask and Bind
//
// Inspect may need to know something of the session that only the
// database knows (the search_path the client set). Query.Ask runs SQL of
// gatehouse's own on the client's upstream session, only when everything
// forwarded before has been answered, and takes its replies before the
// client can see them (own.go); inside a pipeline it answers ErrNotIdle.
// Config.Bind judges each Bind before it is forwarded, for a policy that
// depends on when a prepared statement runs, not only on its text; a
// denied Bind is sent naming a statement that does not exist, so the
// database fails it in step, like a denied Parse.
//
// # Rewriting results (masking)
//
// When Authorize's Upstream sets Results, pgwire asks it how each result's
// rows are rewritten before the client sees them: at a simple query's
// RowDescription, at a COPY TO's CopyOutResponse, and for the extended
// protocol at the portal's description, which pgwire asks the database for
// itself before each Execute (a Describe whose reply goes no further),
// since a client may Execute without describing and the portal may have
// been replaced since it was bound. The rows of a FETCH, an EXECUTE or an
// Execute are described with the source of the query behind the name. DataRows are rewritten column by
// column as they are encoded into the output buffer; rows pgwire cannot
// place, or whose width is not their description's, go out all NULL;
// errors and notices keep only their severity, SQLSTATE and position,
// with the condition's name as the message (redactError).
//
// # Ending
//
// Terminate ends both sides. A lost upstream gives the client FATAL 08006
// (or the database's own FATAL, relayed). A cancelled context gives it
// FATAL 57P01 with the cause's message when the cause is an *Error. A client
// that vanishes while a query runs has that query cancelled upstream, since
// PostgreSQL would otherwise run it to the end. Serve returns only after
// both copiers have stopped and both connections are closed.
//
// # What the statement policy must also refuse
//
// The start-up checks cannot see SQL: the policy behind Inspect must refuse
// SET (or set_config) of standard_conforming_strings to off and of
// client_encoding to SJIS, BIG5, GBK, GB18030, UHC or JOHAB, which would
// let the server and gatehouse's parser read later SQL differently. It must
// also judge PREPARE by the statement prepared, since a statement prepared
// in SQL can be executed through the extended protocol by name.
package pgwire
