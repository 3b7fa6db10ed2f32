package recorder

import (
	"encoding/json"
	"net/http"
)

// KeysHandler serves `GET /v1/recorder-keys`: the public keys an auditor
// needs to verify recordings offline (ParsePublicKeys reads the body back,
// ParseConsolePublicKeys its console keys).
func KeysHandler(keys PublishedKeys) http.Handler {
	body, err := json.Marshal(keys)
	if err != nil {
		panic("recorder: encode published keys: " + err.Error()) // plain strings: cannot fail
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}
