package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/listen"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/console"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

// runConsole serves the auditor's console until ctx ends. It reads the
// recordings where `gatehouse sessions` and `verify` do, records what
// auditors do in a stream of kind console, and holds no CA key.
func runConsole(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "link" {
		return runConsoleLink(ctx, args[1:], out)
	}
	if len(args) > 0 && args[0] == "reindex" {
		return runConsoleReindex(ctx, args[1:], out)
	}
	cfg, store, keys, err := consoleSource("console", args, out)
	if err != nil {
		return err
	}
	if cfg.Recording.Store == "discard" {
		return errors.New("console: recording.store is discard: the auditors' activity could not be recorded, so the console does not start")
	}
	wait, err := startConsole(ctx, cfg, store, keys, out)
	if err != nil {
		return err
	}
	return wait()
}

// consoleSource reads a console command's flags: its configuration, and
// the store and keys it reads recordings with.
func consoleSource(name string, args []string, out io.Writer) (*policy.Config, auditSource, *recorder.Keyring, error) {
	fs := newFlags(name, out)
	audit := addAuditFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, nil, nil, err
	}
	cfg, err := loadConfigFlag(*audit.config, name)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkTrustedKeys(cfg); err != nil { // even when --pubkey replaces them
		return nil, nil, nil, err
	}
	store, keys, err := audit.openSource(name, false)
	return cfg, store, keys, err
}

// startConsole binds the console's listener, opens its activity stream
// and serves in the background until ctx ends; wait returns once it has
// stopped and closed its stream. The listener is bound when it returns,
// so a link printed after it works at once.
func startConsole(ctx context.Context, cfg *policy.Config, store recorder.SummarySource, keys *recorder.Keyring, out io.Writer) (wait func() error, err error) {
	ln, scheme, err := listen.HTTP{Section: "console", Addr: cfg.Console.Listen, TLS: cfg.Console.TLS(), Secret: "auditors' session cookies"}.Listen()
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.Console.PublicURL, "/")
	if base == "" {
		base = scheme + "://" + ln.Addr().String()
	}
	index, err := openConsoleIndex(cfg, store, keys)
	if err != nil {
		ln.Close()
		return nil, err
	}
	c, activity, err := newConsole(ctx, cfg, store, keys, base, index)
	if err != nil {
		ln.Close()
		return nil, errors.Join(err, index.Close())
	}
	indexing, stopIndexing := context.WithCancel(ctx)
	indexed := keepIndexed(indexing, cfg, index)
	fmt.Fprintf(out, "gatehouse console: %s/ (%s; activity recorded in %s stream %s)\n",
		base, loginText(cfg), recorder.KindConsole, activity.ID)
	done := make(chan error, 1)
	go func() {
		reporting, stopReporting := context.WithCancel(ctx)
		reported := make(chan struct{})
		go func() { c.ReportThrottled(reporting); close(reported) }()
		err := serveConsole(ctx, &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}, ln, cfg)
		stopReporting()
		<-reported
		stopIndexing()
		<-indexed
		c.RecordThrottled() // the last refusals, before the stream closes
		ln.Close()          // already closed by Shutdown, unless Serve failed
		done <- errors.Join(err, activity.Close())
	}()
	return func() error { return <-done }, nil
}

// newConsole wires the console: its login (when identity.oidc is set),
// its links and its activity stream, which the caller closes.
func newConsole(ctx context.Context, cfg *policy.Config, store recorder.SummarySource, keys *recorder.Keyring, base string, index console.SessionIndex) (*console.Console, *recorder.Stream, error) {
	var login *console.Login
	if cfg.Identity.OIDC != nil { // without it, only links let auditors in
		var err error
		if login, err = consoleLogin(ctx, cfg, base); err != nil {
			return nil, nil, err
		}
	}
	rec, err := openConsoleRecorder(cfg)
	if err != nil {
		return nil, nil, err
	}
	activity, err := rec.Open(recorder.KindConsole)
	if err != nil {
		return nil, nil, fmt.Errorf("console: open the activity stream: %w", err)
	}
	bundles, err := consoleEvidence(ctx, cfg, store)
	if err != nil {
		return nil, nil, errors.Join(err, activity.Close())
	}
	c, err := console.New(console.Config{Sessions: store, Index: index, Keyring: keys, Lag: cfg.SSH.HandshakeTimeout.D(), Login: login, UploadGrace: uploadGrace(cfg, store), Locks: objectLocks(store),
		AuditorGroups: cfg.Console.AuditorGroups, SessionTTL: cfg.Console.SessionTTL.D(), Activity: activity, ParseTime: parseTime,
		Spool: recorder.FileStore{Dir: cfg.Path(cfg.Recording.Dir)}, Links: linkStore(cfg), Origin: origin(base), Logger: slog.Default(),
		Evidence: bundles})
	if err != nil {
		return nil, nil, errors.Join(err, activity.Close())
	}
	return c, activity, nil
}

// consoleEvidence is how the console builds evidence bundles: signed
// with the console key (never the recorder key, which the console must
// not hold), described as `gatehouse evidence` describes the store, and
// built under data_dir.
func consoleEvidence(ctx context.Context, cfg *policy.Config, store recorder.SummarySource) (*console.Evidence, error) {
	key, err := consoleKey(cfg)
	if err != nil {
		return nil, err
	}
	e := &console.Evidence{Signer: key, TempDir: cfg.DataDir, Version: versionLine()}
	e.Store, e.Lock = evidenceStore(ctx, cfg, store)
	return e, nil
}

// uploadGrace is how long a session may be absent from store after it
// opened: recording.upload_grace when the console reads the bucket, none
// when it reads a directory (--dir included), which the bastion writes
// itself.
func uploadGrace(cfg *policy.Config, store recorder.SummarySource) time.Duration {
	if _, bucket := store.(*s3store.Client); bucket {
		return cfg.Recording.Grace()
	}
	return 0
}

// objectLocks reads the Object Lock of the bucket's objects when the
// console reads the bucket; a directory has none (nil).
func objectLocks(store recorder.SummarySource) console.ObjectLocks {
	if bucket, ok := store.(*s3store.Client); ok {
		return bucket
	}
	return nil
}

// loginText says how auditors get in.
func loginText(cfg *policy.Config) string {
	if cfg.Identity.OIDC == nil {
		return "no identity.oidc: only single-use links (gatehouse console link) let auditors in"
	}
	return "auditors log in at " + cfg.Identity.OIDC.Issuer + ", or with a single-use link"
}

// consoleLogin discovers the IdP for the console's client, whose
// redirect URL is base/callback.
func consoleLogin(ctx context.Context, cfg *policy.Config, base string) (*console.Login, error) {
	c, o := cfg.Console, cfg.Identity.OIDC
	var secret string
	if env := c.OIDCClientSecretEnv; env != "" {
		if secret = os.Getenv(env); secret == "" {
			return nil, fmt.Errorf("console.oidc_client_secret_env: the environment variable %s is not set", env)
		}
	}
	return console.NewLogin(ctx, console.LoginConfig{Issuer: o.Issuer, ClientID: c.OIDCClientID, ClientSecret: secret,
		RedirectURL: base + "/callback", GroupsClaim: o.GroupsClaim, Scopes: o.Scopes})
}

// origin is scheme://host[:port] of a URL, as browsers send it in Origin.
func origin(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Scheme + "://" + u.Host
}

// serveConsole serves until ctx ends, then gives requests 10s to finish.
func serveConsole(ctx context.Context, srv *http.Server, ln net.Listener, cfg *policy.Config) error {
	done := make(chan error, 1)
	go func() {
		if cfg.Console.TLS() {
			done <- srv.ServeTLS(ln, cfg.Path(cfg.Console.TLSCert), cfg.Path(cfg.Console.TLSKey))
			return
		}
		done <- srv.Serve(ln)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := srv.Shutdown(shutdown); err != nil {
		return errors.Join(err, srv.Close())
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
