package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Limits of the refused attempts (logins, logouts) one source may make:
// each is recorded, so without a bound anyone who can reach the console
// could fill the recordings' disk.
const (
	DefaultFailedAttemptsPerMinute = 60
	maxPendingAttempts             = 1024
	// ThrottleReportInterval is how often ReportThrottled records the
	// attempts refused over the limit, one console.throttled per source.
	ThrottleReportInterval = time.Minute
)

// limited spends one of the source's attempts for each request to h, and
// gives it back when h succeeded. Past the limit the request is answered
// 429 without reaching h or the record; ReportThrottled records the
// refusals together. The source is the TCP peer: a reverse proxy in front
// of the console makes every browser one source.
func (c *Console) limited(h func(http.ResponseWriter, *http.Request) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		src := sourcelimit.Source(r.RemoteAddr)
		if why := c.limiter.Admit(src); why != "" {
			w.Header().Set("Retry-After", strconv.Itoa(int(ThrottleReportInterval.Seconds())))
			c.fail(w, http.StatusTooManyRequests, "too many failed attempts from your address; try again in a minute")
			return
		}
		if h(w, r) {
			c.limiter.Succeeded(src)
		} else {
			c.limiter.Failed()
		}
	}
}

// ReportThrottled records the throttled attempts every
// ThrottleReportInterval until ctx ends. Call RecordThrottled once the
// console no longer serves, before closing the activity stream.
func (c *Console) ReportThrottled(ctx context.Context) {
	c.limiter.ReportEvery(ctx, ThrottleReportInterval, c.recordThrottled)
}

// RecordThrottled records one console.throttled per source throttled
// since the last report.
func (c *Console) RecordThrottled() { c.limiter.Flush(c.recordThrottled) }

func (c *Console) recordThrottled(r sourcelimit.Report) {
	perMinute, _ := c.limiter.Limits()
	c.cfg.Logger.Warn("console: attempts refused: too many failed", "source", r.Source, "over_rate", r.OverRate, "over_concurrency", r.OverConcurrency)
	if err := c.cfg.Activity.Emit(event.TypeConsoleThrottled, event.ConsoleThrottled{ThrottleReport: event.ThrottleReport(r), PerMinute: perMinute}); err != nil {
		c.cfg.Logger.Error("console: cannot record throttled attempts", "source", r.Source, "error", err)
	}
}
