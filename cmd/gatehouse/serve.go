package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion"
	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/listen"
	"github.com/gatehouse-dev/gatehouse/internal/malloctrim"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/masking"
	"github.com/gatehouse-dev/gatehouse/recorder"
	gossh "golang.org/x/crypto/ssh"
)

// hostCertTTL is the lifetime of the bastion's host certificate; it is
// signed afresh at every start.
const hostCertTTL = 365 * 24 * time.Hour

func runServe(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("serve", out)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError("serve: --config is required (or set GATEHOUSE_CONFIG)")
	}
	cfg, err := policy.Load(*path)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, drain, release := drainOnSIGTERM(ctx, logger)
	defer release()
	return serve(ctx, cfg, serveOptions{Logger: logger, Drain: drain})
}

type serveOptions struct {
	Logger *slog.Logger
	Dev    ca.TokenVerifier // the dev login; only `gatehouse dev` sets it
	// Ready is called once both listeners accept connections.
	Ready func(info caapi.Info, apiURL string)
	// Drain, once closed, drains the server (docs/operations.md): /readyz
	// fails, the listeners stop accepting, live sessions run for up to
	// ssh.drain_timeout and are then ended, and serve returns nil. nil:
	// only ctx stops the server, at once.
	Drain <-chan struct{}
}

// serve runs the bastion and the certificate API until ctx ends.
func serve(ctx context.Context, cfg *policy.Config, opts serveOptions) error {
	log := opts.Logger
	// A trusted key that cannot be read stops serve before anything
	// starts, naming the entry.
	if err := checkTrustedKeys(cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data_dir: %w", err)
	}
	// The operations endpoint is up first and stops last (deferred
	// first): /healthz answers while serve starts, /readyz fails until
	// the listeners are up and throughout a drain.
	m := metrics.New()
	endpoint := &ops.Endpoint{Gatherer: m.Registry(), Pprof: cfg.Ops.Pprof}
	stopOps, err := opsServer(cfg, endpoint, log)
	if err != nil {
		return err
	}
	defer stopOps()
	keys, err := loadKeys(ctx, cfg, log)
	if err != nil {
		return err
	}
	if keys.vault != nil {
		defer keys.vault.KeepTokenAlive(ctx)()
	}
	// Deferred first, so it runs last: leases still held when the
	// listeners have stopped are revoked.
	leases, revokeLeases, err := vaultCredentials(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer revokeLeases()
	rec, err := openServerRecorder(cfg, log, recorderMetrics(m))
	if err != nil {
		return err
	}
	m.Spool(rec.Backlog)
	endpoint.AddReadyCheck("recorder", func(context.Context) error { return rec.Health() })
	// Uploads outlive the listeners, so that the last sessions' ends are
	// uploaded too (run drains once more after stopUploads).
	uploadCtx, stopUploads := context.WithCancel(context.Background())
	uploadsDone := make(chan struct{})
	go func() { defer close(uploadsDone); rec.Run(uploadCtx) }()
	defer func() { stopUploads(); <-uploadsDone }()
	// The journal ends once every stream, the ledger included, is closed.
	defer func() {
		if err := rec.Close(); err != nil {
			log.Error("closing the recording journal", "error", err)
		}
	}()
	// Closed after every stream it marks and before the last upload.
	defer rec.CloseLedger()
	caStream, err := rec.Open(recorder.KindCA)
	if err != nil {
		return fmt.Errorf("open the CA's recording: %w", err)
	}
	defer caStream.Close()
	state, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer state.close()
	revs := state.list
	stateGauges(m, state.requests, revs)
	observeSharedState(m, endpoint, state)
	authority := &ca.Authority{UserCA: keys.userCA, HostCA: keys.hostCA, Policy: cfg, Record: countingRecorder{caStream, m}, IsRevoked: revs.IsRevoked,
		Requests: state.requests, Issued: state.keep}

	sshAddr, alias := publicSSHAddress(cfg), "gatehouse"
	hostCert, err := authority.SignHostKey(keys.host.PublicKey(), hostPrincipals(cfg, alias, sshAddr), hostCertTTL)
	if err != nil {
		return fmt.Errorf("sign the host certificate: %w", err)
	}
	hostSigner, err := gossh.NewCertSigner(hostCert, keys.host)
	if err != nil {
		return fmt.Errorf("host certificate signer: %w", err)
	}
	api := &ca.API{Authority: authority, Dev: opts.Dev, Logger: log, Info: caapi.Info{
		UserCA:           string(gossh.MarshalAuthorizedKey(keys.userCA.PublicKey())),
		HostCAKnownHosts: ca.HostKnownHostsLine(keys.hostCA.PublicKey(), []string{alias}),
		SSHAddress:       sshAddr,
		SSHHostAlias:     alias,
		DevLogin:         opts.Dev != nil,
	}, KRL: revs.KRLFunc(keys.userCA.PublicKey(), state.issued, nil),
		Limiter: sourcelimit.New(cfg.CA.MaxFailedRequestsPerMinute, maxPendingAPIRequests, nil)}
	if err := addOIDC(ctx, cfg, api); err != nil {
		return err
	}
	masker, err := loadMasker(cfg)
	if err != nil {
		return err
	}
	bst, err := bastion.New(bastion.Config{
		Policy: cfg, UserCAKeys: []gossh.PublicKey{keys.userCA.PublicKey()},
		HostSigner: hostSigner, Recorder: rec.Recorder, Logger: log, IsRevoked: revs.IsRevoked,
		Credentials: leases, Masker: masker, Recorded: sessionMetrics(m), Statement: m.Statement,
		ReleaseMemory: func() { malloctrim.Trim() },
	})
	if err != nil {
		return err
	}
	consolePub, err := localConsoleKey(cfg)
	if err != nil {
		return err
	}
	var published []ed25519.PublicKey // the console key, when this data_dir holds it
	if consolePub != nil {
		published = append(published, consolePub)
	}
	handler, err := httpHandler(api, rec.Recorder, cfg, published...)
	if err != nil {
		return err
	}
	// The API's last refusals are recorded before the CA stream closes,
	// once its reporter below has stopped.
	defer api.RecordThrottled()
	// The revocation watcher and the API's reporter end before serve
	// returns, and before what they use closes.
	var watchers sync.WaitGroup
	ctx, stopWatch := context.WithCancel(ctx)
	defer func() {
		stopWatch()
		watchers.Wait()
	}()
	watchers.Go(func() { watchRevocations(ctx, state, bst, log) })
	watchers.Go(func() { api.ReportThrottled(ctx) })
	return runListeners(ctx, cfg, servers{bst, handler, endpoint}, api.Info, opts)
}

// servers are what runListeners runs: the bastion, the certificate API's
// handler, and the operations endpoint whose readiness they make.
type servers struct {
	bst *bastion.Server
	api http.Handler
	ops *ops.Endpoint
}

// maxPendingAPIRequests bounds the certificate API's requests (but GET
// and HEAD) in progress at once, from all sources.
const maxPendingAPIRequests = 1024

// addOIDC connects the API to the identity provider, when one is configured.
func addOIDC(ctx context.Context, cfg *policy.Config, api *ca.API) error {
	o := cfg.Identity.OIDC
	if o == nil {
		return nil
	}
	v, err := ca.NewOIDCVerifier(ctx, o)
	if err != nil {
		return fmt.Errorf("identity provider %s: %w", o.Issuer, err)
	}
	api.OIDC = v
	api.Info.OIDC = &caapi.OIDCInfo{Issuer: o.Issuer, ClientID: o.ClientID, Scopes: o.Scopes}
	return nil
}

// httpHandler is the certificate API plus the recorder's public keys
// (and the console's, when given), which auditors fetch to verify
// recordings, and /healthz, which says
// whether new sessions can be recorded (503 with the reason when not).
func httpHandler(api *ca.API, rec *recorder.Recorder, cfg *policy.Config, consolePub ...ed25519.PublicKey) (http.Handler, error) {
	pub, err := recorder.SignerPublicKey(rec.Signer)
	if err != nil {
		return nil, err
	}
	// The keys rotated out are published too, marked retired: an
	// auditor needs every key that signed sessions of the period.
	ring, err := recorderKeyring(cfg, pub)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", api.Handler())
	mux.Handle("GET /v1/recorder-keys", recorder.KeysHandler(recorder.PublishedKeys{Keys: ring.Published()}.WithConsole(consolePub...)))
	mux.Handle("GET /healthz", recorder.HealthHandler(rec))
	return mux, nil
}

func runListeners(ctx context.Context, cfg *policy.Config, srv servers, info caapi.Info, opts serveOptions) error {
	apiLn, apiURL, err := listenAPI(cfg)
	if err != nil {
		return err
	}
	sshLn, err := net.Listen("tcp", cfg.SSH.Listen)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("ssh.listen %s: %w", cfg.SSH.Listen, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	httpSrv := &http.Server{Handler: srv.api, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 2)
	go func() { done <- serveHTTP(httpSrv, apiLn, cfg) }()
	go func() { done <- srv.bst.Serve(ctx, sshLn) }()
	opts.Logger.Info("gatehouse serving", "ssh", sshLn.Addr().String(), "api", apiURL)
	srv.ops.Serving()
	if opts.Ready != nil {
		opts.Ready(info, apiURL)
	}
	var first error
	pending, draining := 2, false
	select {
	case <-ctx.Done():
	case first = <-done:
		pending--
	case <-opts.Drain:
		draining = true
		// Not ready from now on; the bastion takes no new connection and
		// lets its sessions run out (bastion.Server.Drain), and the API
		// stops accepting below. ctx still stops everything at once.
		srv.ops.Drain()
		srv.bst.Drain()
	}
	// Whichever way we got here, stop both servers and wait for both:
	// at once, but after a drain, which the bastion ends.
	if !draining {
		cancel(first)
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		// Requests still running after the grace period are cut off.
		err = errors.Join(err, httpSrv.Close())
		opts.Logger.Warn("the certificate API did not shut down in time; closed its connections", "error", err)
	}
	for ; pending > 0; pending-- {
		if err := <-done; first == nil {
			first = err
		}
	}
	if errors.Is(first, http.ErrServerClosed) {
		return nil
	}
	return first
}

func serveHTTP(srv *http.Server, ln net.Listener, cfg *policy.Config) error {
	if cfg.CA.TLSCert != "" {
		return srv.ServeTLS(ln, cfg.Path(cfg.CA.TLSCert), cfg.Path(cfg.CA.TLSKey))
	}
	return srv.Serve(ln)
}

// listenAPI opens the certificate API's listener. Without TLS it must be
// loopback: ID tokens travel in it as bearer credentials.
func listenAPI(cfg *policy.Config) (net.Listener, string, error) {
	tls := cfg.CA.TLSCert != "" && cfg.CA.TLSKey != ""
	ln, scheme, err := listen.HTTP{Section: "ca", Addr: cfg.CA.Listen, TLS: tls, Secret: "ID tokens"}.Listen()
	if err != nil {
		return nil, "", err
	}
	url := cfg.CA.PublicURL
	if url == "" {
		url = scheme + "://" + ln.Addr().String()
	}
	return ln, url, nil
}

// publicSSHAddress is where clients dial the bastion.
func publicSSHAddress(cfg *policy.Config) string {
	if cfg.SSH.PublicAddress != "" {
		return cfg.SSH.PublicAddress
	}
	host, port, _ := net.SplitHostPort(cfg.SSH.Listen)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func hostPrincipals(cfg *policy.Config, alias, sshAddr string) []string {
	host, _, _ := net.SplitHostPort(sshAddr)
	return append([]string{alias, host}, cfg.SSH.HostNames...)
}

// maskingKeyFile keeps the key of the hash mask, relative to data_dir.
const maskingKeyFile = "masking_hash_key"

// loadMasker keys the hash mask with the key in data_dir (made on first
// use), so that hashes stay stable across restarts and joins still work.
func loadMasker(cfg *policy.Config) (*masking.Masker, error) {
	path := cfg.Path(maskingKeyFile)
	key, err := masking.LoadOrCreateHashKey(path)
	if err != nil {
		return nil, fmt.Errorf("masking hash key %s: %w", path, err)
	}
	return masking.NewMasker(key)
}
