package recorder

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestPublishedConsoleKeys: /v1/recorder-keys names the console's keys
// apart; ParsePublicKeys reads the recorder keys only, so a console key
// is never trusted as a recorder's, and ParseConsolePublicKeys the
// console keys only.
func TestPublishedConsoleKeys(t *testing.T) {
	pub := func() ed25519.PublicKey { k, _, _ := ed25519.GenerateKey(rand.Reader); return k }
	rec, con := pub(), pub()
	w := httptest.NewRecorder()
	KeysHandler(Publish(rec).WithConsole(con)).ServeHTTP(w, httptest.NewRequest("GET", "/v1/recorder-keys", nil))
	body := w.Body.Bytes()
	var doc map[string][]PublishedKey
	if err := json.Unmarshal(body, &doc); err != nil || len(doc["keys"]) != 1 || len(doc["console_keys"]) != 1 ||
		doc["console_keys"][0].Fingerprint != Fingerprint(con) {
		t.Fatalf("published %s (%v)", body, err)
	}
	if got, err := ParsePublicKeys(body); err != nil || !slices.EqualFunc(got, []ed25519.PublicKey{rec}, sameKey) {
		t.Errorf("ParsePublicKeys: %v, %v; want the recorder key only", got, err)
	}
	if got, err := ParseConsolePublicKeys(body); err != nil || !slices.EqualFunc(got, []ed25519.PublicKey{con}, sameKey) {
		t.Errorf("ParseConsolePublicKeys: %v, %v; want the console key only", got, err)
	}
	if got, err := ParseConsolePublicKeys([]byte(FormatPublicKey(con))); err != nil || len(got) != 1 || !got[0].Equal(con) {
		t.Errorf("ParseConsolePublicKeys of a key line: %v, %v", got, err)
	}
	without, _ := json.Marshal(Publish(rec))
	if strings.Contains(string(without), "console_keys") {
		t.Errorf("no console key, yet %s", without)
	}
	if _, err := ParseConsolePublicKeys(without); err == nil {
		t.Error("a recorder-keys JSON without console keys gave console keys")
	}
}

func sameKey(a, b ed25519.PublicKey) bool { return a.Equal(b) }
