// Package metrics is gatehouse's Prometheus instrumentation: the one
// package that imports the Prometheus client. The packages it measures
// know nothing of it: each takes a plain hook (bastion.Config.Recorded,
// pgsession.Config.Statement, journal.Config.OnCommit,
// s3store.Uploader.OnUpload) or is read through a function, and cmd
// wires them to the methods here. docs/operations.md lists every metric
// and what to alert on.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds one server's metrics in its own registry (never the
// global one, so that tests and `gatehouse dev` may make several).
type Metrics struct {
	reg *prometheus.Registry

	sessionsActive  prometheus.Gauge
	sessionsEnded   *prometheus.CounterVec
	channelsActive  prometheus.Gauge
	channelsOpened  prometheus.Counter
	channelsRefused prometheus.Counter
	statements      *prometheus.CounterVec
	statementTime   prometheus.Histogram
	commitTime      prometheus.Histogram
	commitRecords   prometheus.Histogram
	uploadsFailed   prometheus.Counter
	certsIssued     prometheus.Counter
	certsRefused    *prometheus.CounterVec
	stateErrors     *prometheus.CounterVec

	now        func() time.Time
	mu         sync.Mutex
	lastUpload time.Time // the last upload pass that left nothing behind
}

// New makes the metrics, with Go's runtime and the process's collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: time.Now}
	m.lastUpload = m.now()
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.sessionsActive = m.gauge("gatehouse_sessions_active", "SSH connections whose recording is open (from session.start to session.end).")
	m.sessionsEnded = m.counterVec("gatehouse_sessions_ended_total", "SSH sessions ended, by the class of their session.end reason.", "reason")
	m.channelsActive = m.gauge("gatehouse_channels_active", "Channels (ssh -L, ssh -W) open now.")
	m.channelsOpened = m.counter("gatehouse_channels_opened_total", "Channels opened (channel.open).")
	m.channelsRefused = m.counter("gatehouse_channels_refused_total", "Channels refused (channel.refused).")
	m.statements = m.counterVec("gatehouse_statements_total", "Database statements, by the policy's decision (allow, deny).", "decision")
	m.statementTime = m.histogram("gatehouse_statement_duration_seconds", "Time from a statement's arrival to its outcome, as db.statement records it.",
		prometheus.ExponentialBuckets(0.0005, 4, 10))
	m.commitTime = m.histogram("gatehouse_recorder_commit_duration_seconds", "Time the recording journal's group commit takes to make its records durable (write and fdatasync).",
		prometheus.ExponentialBuckets(0.0001, 4, 10))
	m.commitRecords = m.histogram("gatehouse_recorder_commit_records", "Records (events of every stream, statements among them) made durable by one group commit.",
		prometheus.ExponentialBuckets(1, 2, 12))
	m.uploadsFailed = m.counter("gatehouse_uploads_failed_total", "Upload passes to the bucket that failed (each is retried; nothing is dropped).")
	m.certsIssued = m.counter("gatehouse_certificates_issued_total", "User certificates issued (cert.issued).")
	m.certsRefused = m.counterVec("gatehouse_certificates_refused_total", "Certificate requests refused (cert.refused), by code.", "code")
	m.stateErrors = m.counterVec("gatehouse_state_store_errors_total", "Failed operations on the state store, by operation.", "op")
	return m
}

// Registry is what /metrics gathers.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	m.reg.MustRegister(g)
	return g
}

func (m *Metrics) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) counterVec(name, help, label string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	m.reg.MustRegister(h)
	return h
}

// GaugeFunc exposes a value read when /metrics is scraped: the spool's
// backlog, the access requests pending, the revocation list's entries.
// f runs on the scraping goroutine and must be cheap and safe to call
// concurrently with everything else.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// SessionStarted counts a session.start; SessionEnded its session.end.
func (m *Metrics) SessionStarted() { m.sessionsActive.Inc() }

// SessionEnded counts a session.end with its reason, reduced to its
// class (EndReasonClass) so that the label's values stay few.
func (m *Metrics) SessionEnded(reason string) {
	m.sessionsActive.Dec()
	m.sessionsEnded.WithLabelValues(EndReasonClass(reason)).Inc()
}

// ChannelOpened, ChannelClosed and ChannelRefused count channel.open,
// channel.close and channel.refused.
func (m *Metrics) ChannelOpened()  { m.channelsOpened.Inc(); m.channelsActive.Inc() }
func (m *Metrics) ChannelClosed()  { m.channelsActive.Dec() }
func (m *Metrics) ChannelRefused() { m.channelsRefused.Inc() }

// Statement counts one statement's outcome: its decision ("allow",
// "deny") and how long it took.
func (m *Metrics) Statement(decision string, d time.Duration) {
	m.statements.WithLabelValues(decision).Inc()
	m.statementTime.Observe(d.Seconds())
}

// Committed observes one group commit of the recording journal.
func (m *Metrics) Committed(records int, d time.Duration) {
	m.commitRecords.Observe(float64(records))
	m.commitTime.Observe(d.Seconds())
}

// CertIssued and CertRefused count the CA's cert.issued and cert.refused.
func (m *Metrics) CertIssued()             { m.certsIssued.Inc() }
func (m *Metrics) CertRefused(code string) { m.certsRefused.WithLabelValues(code).Inc() }

// UploadPass is s3store.Uploader.OnUpload: it counts failed passes and
// notes when one last succeeded, for the upload lag.
func (m *Metrics) UploadPass(err error) {
	if err != nil {
		m.uploadsFailed.Inc()
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastUpload = m.now()
}

// Spool exposes the spool's backlog (backlog: bytes waiting for the
// bucket, read at each scrape) and the upload lag: how long since an
// upload pass last succeeded, while bytes wait; 0 when none do.
func (m *Metrics) Spool(backlog func() int64) {
	m.GaugeFunc("gatehouse_spool_backlog_bytes", "Bytes of recordings in the spool not yet in the bucket (0 without S3).", func() float64 {
		return float64(backlog())
	})
	m.GaugeFunc("gatehouse_upload_lag_seconds", "While recordings wait in the spool: seconds since an upload pass last succeeded; 0 when nothing waits.", func() float64 {
		return m.uploadLag(backlog())
	})
}

func (m *Metrics) uploadLag(waiting int64) float64 {
	if waiting == 0 {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now().Sub(m.lastUpload).Seconds()
}

// StateStoreError counts a failed operation on the state store (op is a
// short fixed name: "revocations", "requests", "connect"). It is the hook
// the state store calls; safe for concurrent use.
func (m *Metrics) StateStoreError(op string) { m.stateErrors.WithLabelValues(op).Inc() }
