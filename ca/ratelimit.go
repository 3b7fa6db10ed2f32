package ca

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// ThrottleReportInterval is how often ReportThrottled records refusals.
const ThrottleReportInterval = time.Minute

// limited spends one of the source's attempts for each request that may
// be refused and recorded (every method but GET and HEAD), and gives it
// back when the answer is a success. Past the limit the request is
// answered 429 without reaching the handler or the record; the refusals
// are recorded together by RecordThrottled. The source is the TCP peer:
// a proxy in front of the API makes every client one source.
func (api *API) limited(next http.Handler) http.Handler {
	if api.Limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		src := sourcelimit.Source(r.RemoteAddr)
		if why := api.Limiter.Admit(src); why != "" {
			w.Header().Set("Retry-After", strconv.Itoa(int(ThrottleReportInterval.Seconds())))
			writeJSON(w, http.StatusTooManyRequests, caapi.ErrorResponse{Error: caapi.CodeRateLimited,
				Message: "too many failed requests from your address; try again in a minute"})
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if sw.status/100 == 2 {
				api.Limiter.Succeeded(src)
			} else {
				api.Limiter.Failed()
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status of the answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ReportThrottled records the refusals every ThrottleReportInterval
// until ctx ends. The caller records the last ones with RecordThrottled
// once the API no longer serves, before closing the record.
func (api *API) ReportThrottled(ctx context.Context) {
	if api.Limiter != nil {
		api.Limiter.ReportEvery(ctx, ThrottleReportInterval, api.recordThrottled)
	}
}

// RecordThrottled records one cert.throttled per source refused since the
// last report.
func (api *API) RecordThrottled() {
	if api.Limiter != nil {
		api.Limiter.Flush(api.recordThrottled)
	}
}

// recordThrottled records a source's refusals; what cannot be recorded
// is logged.
func (api *API) recordThrottled(r sourcelimit.Report) {
	perMinute, _ := api.Limiter.Limits()
	api.log().Warn("certificate API requests refused: too many failed", "source", r.Source, "over_rate", r.OverRate, "over_concurrency", r.OverConcurrency)
	if api.Authority == nil || api.Authority.Record == nil {
		return
	}
	if err := api.Authority.Record.Emit(event.TypeCertThrottled, event.CertThrottled{ThrottleReport: event.ThrottleReport(r), PerMinute: perMinute}); err != nil {
		api.log().Error("cannot record refused requests", "source", r.Source, "error", err)
	}
}
