package event

import "time"

// SessionStart is session.start: recorded when the client's SSH version is
// known (once key exchange is done), or at the end for a connection that
// never got that far. A stream of connections refused before
// authentication (AuthThrottled) starts with one naming only the source.
type SessionStart struct {
	ClientAddr    string `json:"client_addr"`              // the client's host:port as the bastion sees it
	ServerAddr    string `json:"server_addr"`              // the bastion's host:port the client connected to
	ClientVersion string `json:"client_version,omitempty"` // e.g. SSH-2.0-OpenSSH_9.6
}

// SessionEnd is session.end, always a session's last event.
type SessionEnd struct {
	// Reason is why the connection ended: "client disconnected",
	// "authentication failed", "idle timeout", "server shutdown", ...
	Reason     string `json:"reason"`
	DurationMS int64  `json:"duration_ms"` // from the TCP connection's acceptance to its end
	Channels   int    `json:"channels"`    // the number of channels opened (channel.open events)
}

// KeyFacts identify the key or certificate a client presented; the
// certificate fields are left out for a plain key.
type KeyFacts struct {
	KeyType        string `json:"key_type,omitempty"`        // e.g. ssh-ed25519-cert-v01@openssh.com
	KeyFingerprint string `json:"key_fingerprint,omitempty"` // SHA256:… of the key (of the certified key, for a certificate)
	KeyID          string `json:"key_id,omitempty"`          // the certificate's KeyId
	Serial         uint64 `json:"serial,omitempty"`          // the certificate's serial
	CAFingerprint  string `json:"ca_fingerprint,omitempty"`  // SHA256:… of the key that signed the certificate
}

// AuthFailure is auth.failure: one refused authentication attempt.
type AuthFailure struct {
	Method string `json:"method"` // publickey, password, keyboard-interactive, none, ...
	User   string `json:"user"`   // the SSH user name the client sent (it grants nothing)
	Reason string `json:"reason"` // why it was refused, e.g. "not a certificate"
	KeyFacts
}

// AuthSuccess is auth.success: the connection authenticated with a
// certificate from the user CA. The manifest's identity and `gatehouse
// sessions` are read from it.
type AuthSuccess struct {
	Method     string    `json:"method"`     // publickey
	User       string    `json:"user"`       // the SSH user name the client sent
	Name       string    `json:"name"`       // the readable identity, as in the KeyId
	Identity   Identity  `json:"identity"`   // the certificate's identity@gatehouse extension
	Principals []string  `json:"principals"` // the grants, TARGET:ROLE
	ValidAfter time.Time `json:"valid_after"`
	// ValidBefore is absent for a certificate that never expires.
	ValidBefore *time.Time `json:"valid_before,omitempty"`
	KeyFacts
}

// Identity is who a certificate was issued to: its identity@gatehouse
// extension, as the CA encoded it (policy.Identity, whose fields it
// mirrors one for one so that either converts to the other).
type Identity struct {
	Subject     string   `json:"sub"`
	Email       string   `json:"email,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Issuer      string   `json:"iss"`
	Agent       string   `json:"agent,omitempty"`        // set on agent certificates
	DelegatedBy string   `json:"delegated_by,omitempty"` // the human behind an agent
	RequestID   string   `json:"request_id,omitempty"`
	TicketID    string   `json:"ticket_id,omitempty"`
	RunID       string   `json:"run_id,omitempty"`
	Serial      uint64   `json:"serial"`
	// DelegatedBySerial is, on an agent certificate minted with
	// `gatehouse agent-cert`, the serial of the engineer's certificate
	// that vouched for it.
	DelegatedBySerial uint64 `json:"delegated_by_serial,omitempty"`
}

// ThrottleReport counts the attempts of one source refused by a limit
// over a report interval.
type ThrottleReport struct {
	// Source is the IPv4 address, the IPv6 /64, or "other sources (...)"
	// for the sources that shared one bucket while the table was full.
	Source          string    `json:"source"`
	OverRate        int       `json:"over_rate,omitempty"`        // refused: the source had no attempt left
	OverConcurrency int       `json:"over_concurrency,omitempty"` // refused: too many were in progress
	First           time.Time `json:"first"`                      // when the first was refused (UTC)
	Last            time.Time `json:"last"`                       // when the last was refused (UTC)
}

// AuthThrottled is auth.throttled: connections of one source closed
// before the SSH handshake, counted together in a stream of their own.
type AuthThrottled struct {
	ThrottleReport
	PerMinute int `json:"max_auth_attempts_per_minute"`    // the limit in force
	MaxUnauth int `json:"max_unauthenticated_connections"` // the limit in force
}

// SessionRevoked is session.revoked: the session's certificate was
// revoked while it was open, and the bastion ended it.
type SessionRevoked struct {
	Reason string `json:"reason"` // "certificate revoked"
	KeyFacts
}

// SessionExpired is session.expired: the session's certificate reached its
// ValidBefore while it was open, and the bastion ended it.
type SessionExpired struct {
	Reason      string    `json:"reason"`       // "certificate expired"
	ValidBefore time.Time `json:"valid_before"` // the certificate's end
	KeyFacts
}
