package recorder

import (
	"encoding/json"
	"errors"
	"net/http"
)

// HealthHandler serves `GET /healthz`: 200 and "ok" while the recorder
// can take new sessions, else 503 with a JSON body saying why, for load
// balancers and operators. It reports the truth with fail_closed: false
// too, when gatehouse goes ahead anyway.
func HealthHandler(r *Recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		err := r.Health()
		if err == nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte("ok\n"))
			return
		}
		body := struct {
			Status     string `json:"status"`
			Summary    string `json:"summary,omitempty"`
			Reason     string `json:"reason"`
			FailClosed bool   `json:"fail_closed"`
		}{Status: "unavailable", Reason: err.Error(), FailClosed: !r.FailOpen}
		var ue *UnavailableError
		if errors.As(err, &ue) {
			body.Summary, body.Reason = ue.Summary, ue.Cause.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(body)
	})
}
