package evidence

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// SourceKey is one recorder key of the manifest's source: the key as
// GET /v1/recorder-keys publishes it (retired, with its not_after, for a
// key rotated out), and how many of the bundle's sessions it verified,
// so that an auditor sees a rotation inside the period.
type SourceKey struct {
	recorder.PublishedKey
	Sessions int `json:"sessions"`
}

// sourceKeys lists the ring's keys with the sessions each signed (a
// session's verification row names the keys whose signatures verified).
func sourceKeys(ring *recorder.Keyring, rows []verificationRow) []SourceKey {
	count := map[string]int{}
	for _, r := range rows {
		for _, fp := range strings.Fields(r.Keys) {
			count[fp]++
		}
	}
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
