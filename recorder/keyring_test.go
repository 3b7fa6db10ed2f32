package recorder

import (
	"bytes"
	"crypto/ed25519"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rotationPeriod records one session signed by key A, rotates to key B
// an hour later and records one signed by B, as a replica restarted with
// a new recorder key does.
func rotationPeriod(t *testing.T) (store FileStore, a, b ed25519.PrivateKey, idA, idB string, rotated time.Time) {
	t.Helper()
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	a = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	b = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	idA = record(t, &Recorder{Store: store, Clock: clock.now, Signer: a, CheckpointEvents: 4}, clock).ID
	clock.advance(time.Hour)
	rotated = clock.now()
	idB = record(t, &Recorder{Store: store, Clock: clock.now, Signer: b, CheckpointEvents: 4}, clock).ID
	return store, a, b, idA, idB, rotated
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// TestKeyRotation: across a rotation, a session signed by the key
// rotated out verifies only while that key is trusted, and only for what
// it signed before its not_after; the error names the key's fingerprint.
func TestKeyRotation(t *testing.T) {
	store, a, b, idA, idB, rotated := rotationPeriod(t)
	fpA := Fingerprint(pubOf(a))
	current := TrustedKey{Key: pubOf(b), Name: "the recorder key"}
	tests := []struct {
		name         string
		retired      []TrustedKey
		wantA, wantB string // "" for verified, else a part of the error
	}{
		{name: "A in trusted_keys", retired: []TrustedKey{{Key: pubOf(a), Retired: true, Name: "trusted_keys[0]"}}},
		{name: "A in trusted_keys with not_after at the rotation",
			retired: []TrustedKey{{Key: pubOf(a), Retired: true, NotAfter: rotated, Name: "trusted_keys[0]"}}},
		{name: "A not trusted", wantA: "signed by key " + fpA + ", which is not a trusted recorder key"},
		{name: "A's not_after before its session",
			retired: []TrustedKey{{Key: pubOf(a), Retired: true, NotAfter: rotated.Add(-time.Hour - 5*time.Second), Name: "trusted_keys[0]"}},
			wantA:   "signed by retired key " + fpA + " (trusted_keys[0]), whose not_after is " + rotated.Add(-time.Hour-5*time.Second).Format(time.RFC3339)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ring, err := NewKeyring(append([]TrustedKey{current}, tt.retired...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ id, want string }{{idA, tt.wantA}, {idB, tt.wantB}} {
				rep, err := ring.VerifyStoredWith(store, nil, KindSession, c.id)
				switch {
				case c.want == "" && err != nil:
					t.Errorf("%s: %v", c.id, err)
				case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
					t.Errorf("%s: err = %v, want it to say %q", c.id, err, c.want)
				case c.want == "" && (len(rep.Keys) != 1 || rep.Keys[0] != Fingerprint(pubOf(map[string]ed25519.PrivateKey{idA: a, idB: b}[c.id]))):
					t.Errorf("%s: signed by %v", c.id, rep.Keys)
				}
			}
		})
	}
}

// TestNotAfterCoversTheManifest: a key whose not_after falls inside a
// session (after its last checkpoint, before its manifest) fails it at
// the manifest: the manifest vouches for the whole session.
func TestNotAfterCoversTheManifest(t *testing.T) {
	store, a, b, idA, _, _ := rotationPeriod(t)
	_, m := (recording{manifest: store.Dir + "/" + KindSession + "/" + idA + ".manifest.json"}).readManifest(t)
	lines, err := store.Lines(KindSession, idA)
	if err != nil {
		t.Fatal(err)
	}
	last, err := Decode(lines[len(lines)-3]) // the second checkpoint
	if err != nil || last.Type != "checkpoint" {
		t.Fatalf("line %d is %s, %v", len(lines)-2, last.Type, err)
	}
	ring, err := NewKeyring(TrustedKey{Key: pubOf(b)}, TrustedKey{Key: pubOf(a), Retired: true, NotAfter: last.Time, Name: "trusted_keys[0]"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ring.VerifyStored(store, KindSession, idA)
	if err == nil || !strings.Contains(err.Error(), "manifest: signed by retired key") || !strings.Contains(err.Error(), m.End.Format(time.RFC3339Nano)) {
		t.Fatalf("err = %v, want the manifest to fail at its end %s", err, m.End)
	}
}

// TestKeyringRefusesContradictions: a key both current and retired, or
// retired with two windows, is refused, naming both places.
func TestKeyringRefusesContradictions(t *testing.T) {
	k := pubOf(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize)))
	when := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		keys []TrustedKey
		want string
	}{
		{"current and retired", []TrustedKey{{Key: k, Name: "the recorder key"}, {Key: k, Retired: true, Name: "trusted_keys[0]"}},
			"trusted_keys[0]: key " + Fingerprint(k) + " is also the recorder key, the current recorder key"},
		{"two windows", []TrustedKey{{Key: k, Retired: true, Name: "trusted_keys[0]"}, {Key: k, Retired: true, NotAfter: when, Name: "trusted_keys[1]"}},
			"trusted_keys[1]: key " + Fingerprint(k) + " is also trusted_keys[0], retired without not_after"},
		{"not a key", []TrustedKey{{Key: k[:16], Name: "trusted_keys[0]"}}, "trusted_keys[0]: not an Ed25519 public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewKeyring(tt.keys...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	same := TrustedKey{Key: k, Retired: true, NotAfter: when, Name: "trusted_keys[0]"}
	if r, err := NewKeyring(same, same); err != nil || r.Len() != 1 {
		t.Fatalf("the same key given twice alike: %v, %d keys", err, r.Len())
	}
}

// TestPublishedRing: retired keys are published as such, with not_after.
func TestPublishedRing(t *testing.T) {
	_, a, b, _, _, rotated := rotationPeriod(t)
	ring, err := NewKeyring(TrustedKey{Key: pubOf(b)}, TrustedKey{Key: pubOf(a), Retired: true, NotAfter: rotated})
	if err != nil {
		t.Fatal(err)
	}
	got := ring.Published()
	if len(got) != 2 || got[0].Retired || got[0].NotAfter != "" || !got[1].Retired || got[1].NotAfter != rotated.Format(time.RFC3339Nano) ||
		got[1].Fingerprint != Fingerprint(pubOf(a)) {
		t.Fatalf("published %+v", got)
	}
}

// TestParseTrustedKeys: the JSON of GET /v1/recorder-keys keeps each
// key's retirement and not_after, so that an auditor who verifies with
// it holds the keys to their windows.
func TestParseTrustedKeys(t *testing.T) {
	_, a, b, _, _, rotated := rotationPeriod(t)
	ring, err := NewKeyring(TrustedKey{Key: pubOf(b)}, TrustedKey{Key: pubOf(a), Retired: true, NotAfter: rotated})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	KeysHandler(PublishedKeys{Keys: ring.Published()}).ServeHTTP(w, httptest.NewRequest("GET", "/v1/recorder-keys", nil))
	body := w.Body
	got, err := ParseTrustedKeys(body.Bytes(), "--pubkey")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Retired || !got[1].Retired || !got[1].NotAfter.Equal(rotated) || !got[1].Key.Equal(pubOf(a)) {
		t.Fatalf("parsed %+v from %s", got, body)
	}
}
