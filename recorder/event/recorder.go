package event

// Checkpoint is checkpoint: the recorder's signature over the chain as it
// stands, written by the recorder itself (never emitted by a producer).
type Checkpoint struct {
	Seq       uint64 `json:"seq"`        // the last event the signature covers
	ChainHead string `json:"chain_head"` // hex SHA-256 of that event's line
	Key       string `json:"key"`        // fingerprint of the signing key
	Sig       string `json:"sig"`        // standard base64 of the Ed25519 signature
}

// LedgerMark is the payload of a ledger's events (stream.open,
// stream.checkpoint, stream.closed): which stream, and for a checkpoint
// the checkpoint's own seq and line hash, for a close the number of events
// and the chain head its manifest signs.
type LedgerMark struct {
	Kind   string `json:"kind"`
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq,omitempty"`    // stream.checkpoint: the checkpoint event's seq
	Events uint64 `json:"events,omitempty"` // stream.closed: the manifest's events
	Hash   string `json:"hash,omitempty"`   // the hash of line Seq, or the manifest's chain head
}
