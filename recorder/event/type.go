package event

// Type is an event's type, the envelope's "type" field.
type Type string

// Session events: one stream of kind sessions per SSH connection.
const (
	TypeSessionStart   Type = "session.start"   // SessionStart
	TypeAuthFailure    Type = "auth.failure"    // AuthFailure
	TypeAuthSuccess    Type = "auth.success"    // AuthSuccess
	TypeAuthThrottled  Type = "auth.throttled"  // AuthThrottled
	TypeChannelOpen    Type = "channel.open"    // ChannelOpen
	TypeChannelRefused Type = "channel.refused" // ChannelRefused
	TypeChannelClose   Type = "channel.close"   // ChannelClose
	// TypeRequestRefused is RequestRefused in a session's stream and
	// AccessRequestRefused in the CA's: the two kinds of stream never
	// share a type otherwise, and recordings already hold both.
	TypeRequestRefused Type = "request.refused"
	TypeSessionRevoked Type = "session.revoked" // SessionRevoked
	TypeSessionExpired Type = "session.expired" // SessionExpired
	TypeSessionEnd     Type = "session.end"     // SessionEnd
)

// Database events, in the stream of the SSH connection whose channel
// carries the PostgreSQL session.
const (
	TypeDBSessionStart Type = "db.session.start" // DBSessionStart
	TypeDBDecision     Type = "db.decision"      // DBDecision
	TypeDBStatement    Type = "db.statement"     // DBStatement
	TypeDBCancel       Type = "db.cancel"        // DBCancel
	TypeDBCancelled    Type = "db.cancelled"     // DBCancelled
	TypeDBSessionEnd   Type = "db.session.end"   // DBSessionEnd
)

// CA events: streams of kind ca.
const (
	TypeCertIssued      Type = "cert.issued"      // CertIssued
	TypeCertRefused     Type = "cert.refused"     // CertRefused
	TypeCertThrottled   Type = "cert.throttled"   // CertThrottled
	TypeCertRevoked     Type = "cert.revoked"     // CertRevoked
	TypeRequestFiled    Type = "request.filed"    // RequestStep
	TypeRequestApproved Type = "request.approved" // RequestStep
	TypeRequestDenied   Type = "request.denied"   // RequestStep
)

// Console events: streams of kind console, one per `gatehouse console`
// process, recording what auditors looked at.
const (
	TypeConsoleLogin      Type = "console.login"       // ConsoleLogin
	TypeConsoleLogout     Type = "console.logout"      // ConsoleLogout
	TypeConsoleView       Type = "console.view"        // ConsoleView
	TypeConsoleExport     Type = "console.export"      // ConsoleExport
	TypeConsoleRefused    Type = "console.refused"     // ConsoleRefused
	TypeConsoleThrottled  Type = "console.throttled"   // ConsoleThrottled
	TypeConsoleLinkMinted Type = "console.link_minted" // ConsoleLinkMinted
	TypeConsoleLinkUsed   Type = "console.link_used"   // ConsoleLinkUsed
)

// The recorder's own events: checkpoints in every stream, and the marks of
// a ledger (a stream of kind ledger).
const (
	TypeCheckpoint       Type = "checkpoint"        // Checkpoint
	TypeStreamOpen       Type = "stream.open"       // LedgerMark
	TypeStreamCheckpoint Type = "stream.checkpoint" // LedgerMark
	TypeStreamClosed     Type = "stream.closed"     // LedgerMark
)
