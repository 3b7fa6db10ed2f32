package ca

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestAPILimitsFailedRequests: a source that keeps failing (forged
// tokens, say) gets the limit's worth of refusals recorded one by one;
// the rest are answered 429 and recorded as one cert.throttled, so the
// CA's record grows by a bounded amount however many it sends.
func TestAPILimitsFailedRequests(t *testing.T) {
	f := newAPIFixture(t)
	f.api.Limiter = sourcelimit.New(3, 100, nil)
	srv := httptest.NewServer(f.api.Handler())
	defer srv.Close()
	statuses := map[int]int{}
	for range 10 {
		statuses[postTo(t, srv, "forged", map[string]any{"public_key": pubLine(t)})]++
	}
	if statuses[http.StatusUnauthorized] != 3 || statuses[http.StatusTooManyRequests] != 7 {
		t.Fatalf("answers %v, want 3×401 then 7×429", statuses)
	}
	// A GET is never limited: it records nothing.
	resp, err := srv.Client().Get(srv.URL + "/v1/ca")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/ca while limited: %d", resp.StatusCode)
	}
	f.api.RecordThrottled()
	var refused, throttled []recordedEvent
	for _, ev := range f.rec.all() {
		switch ev.Type {
		case event.TypeCertRefused:
			refused = append(refused, ev)
		case event.TypeCertThrottled:
			throttled = append(throttled, ev)
		}
	}
	if len(refused) != 3 || len(throttled) != 1 {
		t.Fatalf("%d cert.refused and %d cert.throttled, want 3 and 1", len(refused), len(throttled))
	}
	if ev := throttled[0].Data; ev["source"] != "127.0.0.1" || ev["over_rate"] != float64(7) || ev["max_failed_requests_per_minute"] != float64(3) {
		t.Errorf("cert.throttled %v", ev)
	}
	if f.api.Limiter.Pending() != 0 {
		t.Errorf("%d requests still pending", f.api.Limiter.Pending())
	}
}

// TestAPISucceededRequestsAreNotLimited: a request that succeeds gives
// its attempt back.
func TestAPISucceededRequestsAreNotLimited(t *testing.T) {
	f := newAPIFixture(t)
	f.api.Limiter = sourcelimit.New(2, 100, nil)
	srv := httptest.NewServer(f.api.Handler())
	defer srv.Close()
	for i := range 10 {
		if code := postTo(t, srv, "good", map[string]any{"public_key": pubLine(t)}); code != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i, code)
		}
	}
}

func postTo(t *testing.T, srv *httptest.Server, token string, body any) int {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/certificates", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
