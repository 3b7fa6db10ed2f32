package evidence

import "github.com/gatehouse-dev/gatehouse/recorder"

// SourceKey is one recorder key of the manifest's source: the key as
// GET /v1/recorder-keys publishes it (retired, with its not_after, for a
// key rotated out), and how many of the bundle's sessions it verified,
// so that an auditor sees a rotation inside the period.
type SourceKey struct {
	recorder.PublishedKey
	Sessions int `json:"sessions"`
}

// sourceKeys lists the ring's keys with the sessions each signed,
// counted by fingerprint as the sessions' verifications named them.
func sourceKeys(ring *recorder.Keyring, count map[string]int) []SourceKey {
	out := []SourceKey{}
	for _, k := range ring.Published() {
		out = append(out, SourceKey{PublishedKey: k, Sessions: count[k.Fingerprint]})
	}
	return out
}

// keyring is what sessions are verified with: Keyring, else Keys.
func (o Options) keyring() *recorder.Keyring {
	if o.Keyring != nil {
		return o.Keyring
	}
	return recorder.Trust(o.Keys...)
}
