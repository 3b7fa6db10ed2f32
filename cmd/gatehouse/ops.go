package main

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/internal/listen"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"github.com/gatehouse-dev/gatehouse/recorder/stack"
)

// sessionMetrics is bastion.Config.Recorded: it counts what sessions
// record.
func sessionMetrics(m *metrics.Metrics) func(event.Type, any) {
	return func(typ event.Type, data any) {
		switch typ {
		case event.TypeSessionStart:
			m.SessionStarted()
		case event.TypeSessionEnd:
			end, _ := data.(event.SessionEnd)
			m.SessionEnded(end.Reason)
		case event.TypeChannelOpen:
			m.ChannelOpened()
		case event.TypeChannelClose:
			m.ChannelClosed()
		case event.TypeChannelRefused:
			m.ChannelRefused()
		}
	}
}

// countingRecorder is the CA's recorder, counting issuances and
// refusals as they are recorded.
type countingRecorder struct {
	ca.Recorder
	m *metrics.Metrics
}

func (r countingRecorder) Emit(typ event.Type, data any) error {
	if err := r.Recorder.Emit(typ, data); err != nil {
		return err
	}
	switch typ {
	case event.TypeCertIssued:
		r.m.CertIssued()
	case event.TypeCertRefused:
		refused, _ := data.(event.CertRefused)
		r.m.CertRefused(refused.Code)
	}
	return nil
}

// recorderMetrics hooks the recording stack's journal and uploader.
func recorderMetrics(m *metrics.Metrics) func(*stack.Config) {
	return func(sc *stack.Config) {
		sc.OnCommit = m.Committed
		sc.OnUpload = m.UploadPass
	}
}

// stateGauges exposes what the CA keeps: access requests pending and the
// revocation list's entries.
func stateGauges(m *metrics.Metrics, requests ca.AccessRequests, revs *ca.RevocationList) {
	m.GaugeFunc("gatehouse_access_requests_pending", "Access requests filed and not yet decided.", func() float64 {
		all, err := requests.All()
		if err != nil {
			return math.NaN() // a shared store's failure counts through observeSharedState
		}
		n := 0
		for _, r := range all {
			if r.State == ca.RequestPending {
				n++
			}
		}
		return float64(n)
	})
	m.GaugeFunc("gatehouse_revocations", "Entries in the revocation list the bastion enforces.", func() float64 {
		return float64(len(revs.Entries()))
	})
}

// observeSharedState joins the shared state database (state.store:
// postgres) to the operations endpoint: every failed operation counts in
// gatehouse_state_store_errors_total{op}, /readyz fails while a bounded
// ping does not answer (nothing can be issued or decided meanwhile), and
// a gauge says whether the revocation watcher listens or polls. With the
// files in data_dir there is nothing to add. Call it before the store is
// used concurrently.
func observeSharedState(m *metrics.Metrics, ep *ops.Endpoint, st *caState) {
	if st.shared == nil {
		return
	}
	st.shared.OnError = func(op string, _ error) { m.StateStoreError(op) }
	ep.AddReadyCheck("state", st.shared.Ping)
	m.GaugeFunc("gatehouse_state_revocations_listening", "1 while the revocation watcher listens for revocations (LISTEN/NOTIFY), 0 while it polls the shared state database.", func() float64 {
		if st.revs.Listening() {
			return 1
		}
		return 0
	})
}

// opsServer serves the operations endpoint until its stop function is
// called (last, so that /readyz fails and /metrics answers throughout a
// drain). With ops.listen unset, a default address that is taken turns
// the endpoint off with a logged error instead of stopping serve.
func opsServer(cfg *policy.Config, ep *ops.Endpoint, log *slog.Logger) (stop func(), err error) {
	addr, explicit := cfg.Ops.Listen, cfg.Ops.Listen != ""
	if !explicit {
		addr = policy.DefaultOpsListen
	}
	ln, scheme, err := listen.HTTP{Section: "ops", Addr: addr, TLS: cfg.Ops.TLS(), Secret: "metrics"}.Listen()
	if err != nil && explicit {
		return nil, err
	}
	if err != nil {
		log.Error("operations endpoint off: its default address cannot be had; set ops.listen", "error", err)
		return func() {}, nil
	}
	srv := &http.Server{Handler: ep.Handler(), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if cfg.Ops.TLS() {
			err = srv.ServeTLS(ln, cfg.Path(cfg.Ops.TLSCert), cfg.Path(cfg.Ops.TLSKey))
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("operations endpoint failed", "error", err)
		}
	})
	log.Info("operations endpoint serving", "url", scheme+"://"+ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		wg.Wait()
	}, nil
}

// drainOnSIGTERM is serve's signal handling beyond main's (SIGINT stops
// at once): the first SIGTERM closes drain, a second one cancels the
// returned context, ending everything at once. release stops listening
// and waits for its goroutine.
func drainOnSIGTERM(ctx context.Context, log *slog.Logger) (_ context.Context, drain <-chan struct{}, release func()) {
	term := make(chan os.Signal, 2)
	signal.Notify(term, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(ctx)
	drained := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-term:
			log.Info("SIGTERM: draining; a second SIGTERM stops at once")
			close(drained)
		case <-ctx.Done():
			return
		}
		select {
		case <-term:
			log.Warn("second SIGTERM: stopping at once")
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, drained, func() {
		signal.Stop(term)
		cancel()
		wg.Wait()
	}
}
