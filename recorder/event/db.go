package event

// DBSessionStart is db.session.start: a PostgreSQL session through a
// postgres target's channel, once the upstream connection is up and
// before the client is told it is authenticated.
type DBSessionStart struct {
	Channel         int    `json:"channel"`
	Target          string `json:"target"`
	Role            string `json:"role"`                     // the role the client asked for (its startup user)
	Database        string `json:"database"`                 // the database connected to
	UpstreamUser    string `json:"upstream_user"`            // the database user gatehouse connected as; never a password
	UpstreamTLS     bool   `json:"upstream_tls"`             // whether the upstream connection uses TLS
	TLSVersion      string `json:"tls_version,omitempty"`    // and which version
	ServerVersion   string `json:"server_version,omitempty"` // the database's server_version
	Statements      string `json:"statements"`               // the statement policy in force ("" = none)
	ReadOnly        bool   `json:"read_only"`                // default_transaction_read_only=on was set upstream as a second wall
	ProtocolVersion string `json:"protocol_version"`         // spoken on both sides (3.0)
	ClientApp       string `json:"application_name,omitempty"`
	Identity        string `json:"identity"`                 // the certificate's identity, as its KeyId
	VaultLeaseID    string `json:"vault_lease_id,omitempty"` // credentials.vault: the lease, never the password
}

// DBSessionEnd is db.session.end.
type DBSessionEnd struct {
	Channel int    `json:"channel"`
	Reason  string `json:"reason"`          // client terminated, client disconnected, upstream lost, ...
	Error   string `json:"error,omitempty"` // the cause, when there was one
}

// DBDecision is db.decision: an allowed statement, durable before it is
// forwarded to the database (or within recording.decision_sync_window).
// Its fields are DBStatement's, up to Rule.
type DBDecision struct {
	Channel int    `json:"channel"`
	Text    string `json:"text"` // the SQL as decided, its first 64 KiB
	// TextBytes and TextSHA256 are only for a text cut to 64 KiB: the
	// whole text's length and hex SHA-256.
	TextBytes  int      `json:"text_bytes,omitempty"`
	TextSHA256 string   `json:"text_sha256,omitempty"`
	Extended   bool     `json:"extended,omitempty"`       // the extended protocol (a Parse)
	Statement  string   `json:"statement_name,omitempty"` // the prepared statement's name
	Params     int      `json:"params"`                   // parameter types the Parse declared
	Kinds      []string `json:"kinds,omitempty"`          // what the statement does, from the PostgreSQL parser
	Relations  []string `json:"relations,omitempty"`
	Functions  []string `json:"functions,omitempty"`
	Decision   Decision `json:"decision"`       // Allow
	Rule       string   `json:"rule,omitempty"` // the rule that allowed it
}

// DBStatement is db.statement: one simple Query string, one Execute of an
// extended-protocol portal, or one Parse that was denied or failed, with
// its decision and outcome.
type DBStatement struct {
	Channel int `json:"channel"`
	// Text is the SQL, its first 64 KiB; for an Execute, of the statement
	// the database held under the portal.
	Text       string `json:"text"`
	TextBytes  int    `json:"text_bytes,omitempty"`  // with TextSHA256, only for a cut text
	TextSHA256 string `json:"text_sha256,omitempty"` // of the whole text
	Extended   bool   `json:"extended,omitempty"`
	Statement  string `json:"statement_name,omitempty"`
	Portal     string `json:"portal,omitempty"`
	Params     int    `json:"params"` // bind parameters: their count
	// Parameters are the first bind values, only under the statement
	// policy's log_parameters: a string, nil for NULL, or an object
	// {"format", "base64"[, "bytes", "sha256"]}.
	Parameters []any    `json:"parameters,omitempty"`
	Kinds      []string `json:"kinds,omitempty"`
	Relations  []string `json:"relations,omitempty"`
	Functions  []string `json:"functions,omitempty"`
	Decision   Decision `json:"decision"`       // Allow or Deny; anything but Allow counts as a refusal
	Rule       string   `json:"rule,omitempty"` // the rule that decided
	// Outcome is ok, suspended, error, denied, skipped or unfinished.
	Outcome string `json:"outcome"`
	// SkippedAlso counts the Executes the database skipped after this one
	// before the pipeline's Sync, which have no record of their own.
	SkippedAlso int64   `json:"skipped_also,omitempty"`
	Rows        int64   `json:"rows"`            // from CommandComplete, summed over a string
	Tag         string  `json:"tag,omitempty"`   // the last CommandComplete tag
	Bytes       int64   `json:"bytes"`           // of result rows and COPY data sent to the client
	DurationMS  float64 `json:"duration_ms"`     // from receipt to the database's complete answer
	Error       string  `json:"error,omitempty"` // SQLSTATE of the first error the client was sent
	// Masked says which result columns were masked and by which rule
	// ("column: function (why)"), never a value.
	Masked []string `json:"masked,omitempty"`
}

// DBCancel is db.cancel: a PostgreSQL CancelRequest arrived on this
// channel, matched or not (a key that names nothing is a probe).
type DBCancel struct {
	Channel int `json:"channel"`
	// ProcessID is of the key sent: the backend process id gatehouse
	// showed the client, never the database's secret.
	ProcessID      uint32 `json:"process_id"`
	Matched        bool   `json:"matched"`                   // the key names a live session: the request is forwarded
	TargetSession  string `json:"target_session,omitempty"`  // the session (stream id) it stops
	TargetChannel  int    `json:"target_channel,omitempty"`  // and its channel
	TargetIdentity string `json:"target_identity,omitempty"` // and identity
}

// DBCancelled is db.cancelled: the same request, in the stream of the
// session it stops.
type DBCancelled struct {
	Channel    int    `json:"channel"`     // the channel whose database session is cancelled
	BySession  string `json:"by_session"`  // the stream id the request came from
	ByChannel  int    `json:"by_channel"`  // its channel
	ByIdentity string `json:"by_identity"` // its identity
}

// Decision is what gatehouse decided of a statement.
type Decision string

// The decisions gatehouse records.
const (
	Allow Decision = "allow"
	Deny  Decision = "deny"
)

// Allowed reports whether d lets the statement run. Anything but Allow
// (and "allowed", which early recordings wrote) counts as a refusal, so
// that an unfamiliar decision is shown rather than hidden.
func (d Decision) Allowed() bool { return d == Allow || d == "allowed" }
