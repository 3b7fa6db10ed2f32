package event

import "time"

// The payload structs the producers declared before this package existed,
// copied as they were at main (bastion, ca, internal/sourcelimit,
// policy.Identity, recorder): TestEncodingUnchanged holds this package's
// types to the bytes these encoded to. Do not edit them; they are the
// format recordings already hold.

type mainSessionStart struct {
	ClientAddr    string `json:"client_addr"`
	ServerAddr    string `json:"server_addr"`
	ClientVersion string `json:"client_version,omitempty"`
}

type mainSessionEnd struct {
	Reason     string `json:"reason"`
	DurationMS int64  `json:"duration_ms"`
	Channels   int    `json:"channels"`
}

type mainKeyFacts struct {
	KeyType        string `json:"key_type,omitempty"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	KeyID          string `json:"key_id,omitempty"`
	Serial         uint64 `json:"serial,omitempty"`
	CAFingerprint  string `json:"ca_fingerprint,omitempty"`
}

type mainAuthFailure struct {
	Method string `json:"method"`
	User   string `json:"user"`
	Reason string `json:"reason"`
	mainKeyFacts
}

type mainIdentity struct {
	Subject           string   `json:"sub"`
	Email             string   `json:"email,omitempty"`
	Groups            []string `json:"groups,omitempty"`
	Issuer            string   `json:"iss"`
	Agent             string   `json:"agent,omitempty"`
	DelegatedBy       string   `json:"delegated_by,omitempty"`
	RequestID         string   `json:"request_id,omitempty"`
	TicketID          string   `json:"ticket_id,omitempty"`
	RunID             string   `json:"run_id,omitempty"`
	Serial            uint64   `json:"serial"`
	DelegatedBySerial uint64   `json:"delegated_by_serial,omitempty"`
}

type mainAuthSuccess struct {
	Method      string       `json:"method"`
	User        string       `json:"user"`
	Name        string       `json:"name"`
	Identity    mainIdentity `json:"identity"`
	Principals  []string     `json:"principals"`
	ValidAfter  time.Time    `json:"valid_after"`
	ValidBefore *time.Time   `json:"valid_before,omitempty"`
	mainKeyFacts
}

type mainReport struct {
	Source          string    `json:"source"`
	OverRate        int       `json:"over_rate,omitempty"`
	OverConcurrency int       `json:"over_concurrency,omitempty"`
	First           time.Time `json:"first"`
	Last            time.Time `json:"last"`
}

type mainAuthThrottled struct {
	mainReport
	PerMinute int `json:"max_auth_attempts_per_minute"`
	MaxUnauth int `json:"max_unauthenticated_connections"`
}

type mainSessionRevoked struct {
	Reason string `json:"reason"`
	mainKeyFacts
}

type mainSessionExpired struct {
	Reason      string    `json:"reason"`
	ValidBefore time.Time `json:"valid_before"`
	mainKeyFacts
}

type mainChannelOpen struct {
	Channel int      `json:"channel"`
	Target  string   `json:"target"`
	Roles   []string `json:"roles"`
	Port    uint32   `json:"port"`
	Origin  string   `json:"origin"`
}

type mainChannelRefused struct {
	Channel int    `json:"channel"`
	Type    string `json:"type"`
	Host    string `json:"host,omitempty"`
	Port    uint32 `json:"port,omitempty"`
	Origin  string `json:"origin,omitempty"`
	Reason  string `json:"reason"`
}

type mainChannelClose struct {
	Channel         int    `json:"channel"`
	BytesToTarget   int64  `json:"bytes_to_target"`
	BytesFromTarget int64  `json:"bytes_from_target"`
	Error           string `json:"error"`
}

type mainRequestRefused struct {
	Channel int    `json:"channel,omitempty"`
	Type    string `json:"type"`
	Detail  string `json:"detail,omitempty"`
	Reason  string `json:"reason"`
}

type mainDBStart struct {
	Channel         int    `json:"channel"`
	Target          string `json:"target"`
	Role            string `json:"role"`
	Database        string `json:"database"`
	UpstreamUser    string `json:"upstream_user"`
	UpstreamTLS     bool   `json:"upstream_tls"`
	TLSVersion      string `json:"tls_version,omitempty"`
	ServerVersion   string `json:"server_version,omitempty"`
	Statements      string `json:"statements"`
	ReadOnly        bool   `json:"read_only"`
	ProtocolVersion string `json:"protocol_version"`
	ClientApp       string `json:"application_name,omitempty"`
	Identity        string `json:"identity"`
	VaultLeaseID    string `json:"vault_lease_id,omitempty"`
}

type mainDBEnd struct {
	Channel int    `json:"channel"`
	Reason  string `json:"reason"`
	Error   string `json:"error,omitempty"`
}

type mainDBStatement struct {
	Channel     int      `json:"channel"`
	Text        string   `json:"text"`
	TextBytes   int      `json:"text_bytes,omitempty"`
	TextSHA256  string   `json:"text_sha256,omitempty"`
	Extended    bool     `json:"extended,omitempty"`
	Statement   string   `json:"statement_name,omitempty"`
	Portal      string   `json:"portal,omitempty"`
	Params      int      `json:"params"`
	Parameters  []any    `json:"parameters,omitempty"`
	Kinds       []string `json:"kinds,omitempty"`
	Relations   []string `json:"relations,omitempty"`
	Functions   []string `json:"functions,omitempty"`
	Decision    string   `json:"decision"`
	Rule        string   `json:"rule,omitempty"`
	Outcome     string   `json:"outcome"`
	SkippedAlso int64    `json:"skipped_also,omitempty"`
	Rows        int64    `json:"rows"`
	Tag         string   `json:"tag,omitempty"`
	Bytes       int64    `json:"bytes"`
	DurationMS  float64  `json:"duration_ms"`
	Error       string   `json:"error,omitempty"`
	Masked      []string `json:"masked,omitempty"`
}

type mainDBDecision struct {
	Channel    int      `json:"channel"`
	Text       string   `json:"text"`
	TextBytes  int      `json:"text_bytes,omitempty"`
	TextSHA256 string   `json:"text_sha256,omitempty"`
	Extended   bool     `json:"extended,omitempty"`
	Statement  string   `json:"statement_name,omitempty"`
	Params     int      `json:"params"`
	Kinds      []string `json:"kinds,omitempty"`
	Relations  []string `json:"relations,omitempty"`
	Functions  []string `json:"functions,omitempty"`
	Decision   string   `json:"decision"`
	Rule       string   `json:"rule,omitempty"`
}

type mainDBCancel struct {
	Channel        int    `json:"channel"`
	ProcessID      uint32 `json:"process_id"`
	Matched        bool   `json:"matched"`
	TargetSession  string `json:"target_session,omitempty"`
	TargetChannel  int    `json:"target_channel,omitempty"`
	TargetIdentity string `json:"target_identity,omitempty"`
}

type mainDBCancelled struct {
	Channel    int    `json:"channel"`
	BySession  string `json:"by_session"`
	ByChannel  int    `json:"by_channel"`
	ByIdentity string `json:"by_identity"`
}

type mainIssuedEvent struct {
	Source         string       `json:"source"`
	Identity       mainIdentity `json:"identity"`
	KeyID          string       `json:"key_id"`
	Serial         uint64       `json:"serial"`
	Principals     []string     `json:"principals"`
	KeyFingerprint string       `json:"key_fingerprint"`
	ValidAfter     time.Time    `json:"valid_after"`
	ValidBefore    time.Time    `json:"valid_before"`
}

type mainRefusedEvent struct {
	Source         string        `json:"source"`
	Identity       *mainIdentity `json:"identity"`
	Reason         string        `json:"reason"`
	Code           string        `json:"code"`
	KeyFingerprint string        `json:"key_fingerprint,omitempty"`
	Grants         []string      `json:"grants,omitempty"`
	TTL            string        `json:"ttl,omitempty"`
}

type mainThrottledEvent struct {
	mainReport
	PerMinute int `json:"max_failed_requests_per_minute"`
}

type mainRevocation struct {
	Serial    uint64    `json:"serial,omitempty"`
	Identity  string    `json:"identity,omitempty"`
	Key       string    `json:"key,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	RevokedAt time.Time `json:"revoked_at"`
	By        string    `json:"by,omitempty"`
}

type mainRevokedCertificate struct {
	Serial      uint64    `json:"serial"`
	KeyID       string    `json:"key_id"`
	ValidBefore time.Time `json:"valid_before"`
}

type mainRevokedEvent struct {
	Revocation mainRevocation           `json:"revocation"`
	Matched    []mainRevokedCertificate `json:"matched"`
}

type mainAccessRequest struct {
	ID        string       `json:"id"`
	State     string       `json:"state"`
	Requester mainIdentity `json:"requester"`
	Grant     string       `json:"grant"`
	Reason    string       `json:"reason"`
	TTL       string       `json:"ttl,omitempty"`
	FiledAt   time.Time    `json:"filed_at"`

	DecidedBy      string    `json:"decided_by,omitempty"`
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	DecisionReason string    `json:"decision_reason,omitempty"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
}

type mainRequestEvent struct {
	Request mainAccessRequest `json:"request"`
	By      mainIdentity      `json:"by"`
}

type mainRequestRefusedEvent struct {
	Action    string        `json:"action"`
	RequestID string        `json:"request_id,omitempty"`
	Grant     string        `json:"grant,omitempty"`
	By        *mainIdentity `json:"by"`
	Reason    string        `json:"reason"`
	Code      string        `json:"code"`
}

type mainCheckpoint struct {
	Seq       uint64 `json:"seq"`
	ChainHead string `json:"chain_head"`
	Key       string `json:"key"`
	Sig       string `json:"sig"`
}

type mainLedgerMark struct {
	Kind   string `json:"kind"`
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq,omitempty"`
	Events uint64 `json:"events,omitempty"`
	Hash   string `json:"hash,omitempty"`
}
