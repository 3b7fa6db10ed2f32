package recorder

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
)

// KeysHandler serves `GET /v1/recorder-keys`: the public keys an auditor
// needs to verify recordings offline (ParsePublicKeys reads the body back).
func KeysHandler(keys ...ed25519.PublicKey) http.Handler {
	body, err := json.Marshal(Publish(keys...))
	if err != nil {
		panic("recorder: encode published keys: " + err.Error()) // plain strings: cannot fail
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}
