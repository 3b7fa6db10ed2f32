package recorder

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Manifest is a closed stream's signed account of itself. It is stored as
// its own object next to the stream (FileStore: DIR/KIND/ID.manifest.json)
// rather than as the stream's last event, so that the stream ends as its
// events say (a session with session.end) and the manifest can commit to
// every line, the last one included; see docs/recording-format.md.
type Manifest struct {
	V         int               `json:"v"`
	Stream    string            `json:"stream"`
	Kind      string            `json:"kind"`
	Identity  *ManifestIdentity `json:"identity,omitempty"`
	Events    uint64            `json:"events"`    // lines in the stream
	FirstSeq  uint64            `json:"first_seq"` // 0; with Events 0, first and last seq mean nothing
	LastSeq   uint64            `json:"last_seq"`
	ChainHead string            `json:"chain_head"` // hash of the last line; GenesisHash when there are none
	Counts    map[string]uint64 `json:"counts"`     // events by type, checkpoints included
	EndReason string            `json:"end_reason"`
	Error     string            `json:"error,omitempty"` // the append that failed, if one did
	Start     time.Time         `json:"start"`           // when the stream was opened
	End       time.Time         `json:"end"`             // when it was closed; for a recovered stream, its last event
	Recovered *Recovery         `json:"recovered,omitempty"`
}

// EndRecovered is the end reason of a stream that a crash or kill cut
// short, closed by Recover when gatehouse started again.
const EndRecovered = "recovered_after_crash"

// Recovery is what a manifest written by Recover says of the crash.
type Recovery struct {
	At time.Time `json:"at"` // when the manifest was written
	// Checkpointed is how many events, from the first, a checkpoint
	// signed before the crash; the rest were signed only by this manifest.
	Checkpointed uint64 `json:"checkpointed"`
	// SessionEnd is the session.end reason, when the session ended but
	// the process died before writing its manifest.
	SessionEnd string `json:"session_end,omitempty"`
	// TornTailBytes are the bytes of a last line cut short by the crash
	// (a torn write), dropped from the stream; TornTailSHA256 is their hash.
	TornTailBytes  int    `json:"torn_tail_bytes,omitempty"`
	TornTailSHA256 string `json:"torn_tail_sha256,omitempty"`
	// Ledger is the ledger that registered the stream, whose marks showed
	// that nothing but the unsigned tail of a crash can be missing
	// (ledger.go); Verify checks them again. Empty for a ledger.
	Ledger string `json:"ledger,omitempty"`
}

// ManifestIdentity is who a session was, taken from its auth.success event.
type ManifestIdentity struct {
	Name           string `json:"name,omitempty"`
	Agent          string `json:"agent,omitempty"`
	KeyID          string `json:"key_id,omitempty"`
	Serial         uint64 `json:"serial,omitempty"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
}

// endClosed is a manifest's end reason when no session.end gave one.
const endClosed = "closed"

// signedManifest is the manifest file: the manifest object, and the
// signature of its exact bytes (ManifestMessage).
type signedManifest struct {
	Manifest json.RawMessage `json:"manifest"`
	Key      string          `json:"key"`
	Sig      string          `json:"sig"`
}

func (s *signer) signManifest(m Manifest) ([]byte, error) {
	body, err := Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("recorder: encode manifest: %w", err)
	}
	sig, err := s.sign(ManifestMessage(body))
	if err != nil {
		return nil, err
	}
	file, err := Marshal(signedManifest{Manifest: body, Key: s.fp, Sig: sig})
	if err != nil {
		return nil, fmt.Errorf("recorder: encode manifest: %w", err)
	}
	return append(file, '\n'), nil
}

// openManifest checks a manifest file's signature and decodes it. It
// returns the signing key's fingerprint, or why the manifest is not to be
// trusted (for a *VerifyError).
// The key's not_after is checked by the caller, which knows the events.
func openManifest(data []byte, keys *Keyring) (m *Manifest, key, why string) {
	var sm signedManifest
	if err := json.Unmarshal(data, &sm); err != nil {
		return nil, "", "cannot be decoded: " + err.Error()
	}
	if len(sm.Manifest) == 0 {
		return nil, "", "has no manifest object"
	}
	if why := keys.check(sm.Key, sm.Sig, ManifestMessage(sm.Manifest), time.Time{}); why != "" {
		return nil, "", why
	}
	m = new(Manifest)
	if err := json.Unmarshal(sm.Manifest, m); err != nil {
		return nil, "", "signed, but its manifest object cannot be decoded: " + err.Error()
	}
	if m.V != SchemaVersion {
		return nil, "", fmt.Sprintf("schema version %d, want %d", m.V, SchemaVersion)
	}
	return m, sm.Key, ""
}

// ledger is what a stream notes as it goes for its manifest.
type ledger struct {
	opened    time.Time
	counts    map[string]uint64
	identity  *ManifestIdentity
	endReason string
}

// note reads the payloads the manifest summarises. A payload without the
// expected fields leaves the manifest without them.
func (l *ledger) note(typ event.Type, payload []byte) {
	l.counts[string(typ)]++
	switch typ {
	case event.TypeAuthSuccess:
		var auth event.AuthSuccess
		if json.Unmarshal(payload, &auth) == nil {
			l.identity = &ManifestIdentity{Name: auth.Name, Agent: auth.Identity.Agent,
				KeyID: auth.KeyID, Serial: auth.Serial, KeyFingerprint: auth.KeyFingerprint}
		}
	case event.TypeSessionEnd:
		var end event.SessionEnd
		if json.Unmarshal(payload, &end) == nil {
			l.endReason = end.Reason
		}
	}
}
