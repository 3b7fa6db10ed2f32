package bastion

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// maxAuthTries is how many authentication attempts one connection may
// make (x/crypto's default, and OpenSSH's MaxAuthTries, made explicit):
// with the per-source limit it bounds how many auth.failure events a
// source can cause a minute.
const maxAuthTries = 6

// throttleReportInterval is how often refused connections are recorded:
// one stream per source that had any, however many there were.
const throttleReportInterval = time.Minute

// endThrottled is the end reason of a stream of refused connections.
const endThrottled = "connections refused before authentication"

// turnAway closes a connection the limiter refused, telling the client
// why in a line before the version exchange, which RFC 4253 §4.2 lets a
// server send (OpenSSH shows it with -v). Nothing is recorded for it
// now: reportThrottled records the refusals of each source together.
func turnAway(c net.Conn, why string) {
	msg := "gatehouse: too many connections that have not authenticated from your address; try again in a minute\r\n"
	if why == sourcelimit.OverConcurrency {
		msg = "gatehouse: too many connections are authenticating; try again shortly\r\n"
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte(msg))
	_ = c.Close()
}

// reportThrottled records the refused connections every
// throttleReportInterval, and once more when ctx ends.
func (s *Server) reportThrottled(ctx context.Context) {
	s.limiter.ReportEvery(ctx, throttleReportInterval, s.recordThrottled)
	s.limiter.Flush(s.recordThrottled)
}

// recordThrottled writes one stream for a source with refusals: its
// session.start names the source, one auth.throttled says how many were
// refused and when, session.end closes it. If they cannot be recorded,
// the counts are logged.
func (s *Server) recordThrottled(r sourcelimit.Report) {
	perMinute, maxUnauth := s.limiter.Limits()
	ev := event.AuthThrottled{ThrottleReport: event.ThrottleReport(r), PerMinute: perMinute, MaxUnauth: maxUnauth}
	s.log.Warn("connections refused before authentication", "source", r.Source,
		"over_rate", r.OverRate, "over_concurrency", r.OverConcurrency)
	if err := s.recordThrottledSource(ev); err != nil {
		s.log.Error("cannot record refused connections", "source", r.Source, "error", err)
	}
}

func (s *Server) recordThrottledSource(ev event.AuthThrottled) error {
	stream, err := s.cfg.Recorder.Open(recorder.KindSession)
	if err != nil {
		return err
	}
	errStart := stream.Emit(event.TypeSessionStart, event.SessionStart{ClientAddr: ev.Source})
	errEv := stream.Emit(event.TypeAuthThrottled, ev)
	errEnd := stream.Emit(event.TypeSessionEnd, event.SessionEnd{Reason: endThrottled, DurationMS: ev.Last.Sub(ev.First).Milliseconds()})
	return errors.Join(errStart, errEv, errEnd, stream.Close())
}
