package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/pgrun"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/console"
)

// devIdentity is who `gatehouse login --dev` logs in as.
var devIdentity = policy.Identity{
	Subject: "dev", Email: "dev@gatehouse.local", Issuer: "gatehouse-dev", Groups: []string{"developers"},
}

func runDev(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("dev", out)
	dataDir := fs.String("data-dir", ".gatehouse-dev", "where keys, config and recordings are kept")
	sshListen := fs.String("ssh-listen", "127.0.0.1:2222", "SSH listen address")
	apiListen := fs.String("api-listen", "127.0.0.1:8443", "certificate API listen address (loopback)")
	consoleListen := fs.String("console-listen", policy.DefaultConsoleListen, "auditor's console listen address (loopback)")
	withPG := fs.Bool("postgres", true, "start a throwaway PostgreSQL with demo data as target \"demo\" (needs PostgreSQL 15 installed)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dev: create %s: %w", dir, err)
	}
	demo, err := startDemoDB(ctx, *withPG, dir, out)
	if err != nil {
		return err
	}
	if demo != nil {
		defer demo.stop(out)
	}
	cfg, cfgPath, err := writeDevConfig(dir, devListen{*sshListen, *apiListen, *consoleListen}, demo)
	if err != nil {
		return err
	}
	if _, err := initCAKeys(cfg); err != nil {
		return err
	}
	tokens := ca.NewDevTokens(devIdentity, func(tok string) {
		fmt.Fprintf(out, "\nThe dev login token was used; the next one is: %s\n", tok)
	})
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	consoleCtx, stopConsole := context.WithCancel(ctx)
	waitConsole, err := startDevConsole(consoleCtx, cfg, out)
	if err != nil {
		stopConsole()
		return err
	}
	err = serve(ctx, cfg, serveOptions{Logger: logger, Dev: tokens, Ready: func(info caapi.Info, apiURL string) {
		w := devWelcome{dir: dir, cfgPath: cfgPath, apiURL: apiURL, token: tokens.Current(), demo: demo}
		w.consoleLink, w.consoleErr = devConsoleLink(cfg)
		printDevWelcome(out, w)
	}})
	stopConsole()
	return errors.Join(err, waitConsole())
}

// devAuditor is who the link `gatehouse dev` prints logs in as: dev has
// no IdP of its own for the console's OIDC login.
const devAuditor = "dev-auditor"

// startDevConsole serves the auditor's console over dev's recordings,
// verified with its recorder key.
func startDevConsole(ctx context.Context, cfg *policy.Config, out io.Writer) (func() error, error) {
	key, err := recorderKey(cfg)
	if err != nil {
		return nil, err
	}
	store := recorder.FileStore{Dir: cfg.Path(cfg.Recording.Dir)}
	return startConsole(ctx, cfg, store, recorder.Trust(key.Public().(ed25519.PublicKey)), out)
}

// devConsoleLink mints a console link for devAuditor, good for as long
// as a dev login's certificate (ca.max_ttl).
func devConsoleLink(cfg *policy.Config) (string, error) {
	now := time.Now().UTC()
	return mintLink(cfg, console.Link{Identity: devAuditor, Expires: now.Add(cfg.CA.MaxTTL.D()), MintedBy: localUser(), Minted: now})
}

// devListen are dev's listen addresses.
type devListen struct{ ssh, api, console string }

func writeDevConfig(dir string, listen devListen, demo *demoDB) (*policy.Config, string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `gatehouse dev`; regenerated at every start.\ndata_dir: %q\n", dir)
	fmt.Fprintf(&b, "ssh:\n  listen: %q\nca:\n  listen: %q\n  max_ttl: 8h\n  agent_max_ttl: 1h\n", listen.ssh, listen.api)
	fmt.Fprintf(&b, "console:\n  listen: %q\n", listen.console)
	if demo != nil {
		fmt.Fprintf(&b, `targets:
  demo:
    protocol: postgres
    address: 127.0.0.1:%d
    roles:
      readonly:
        credentials: {user: demo_ro, password_file: %q}
        statements: readonly
        masking: pii
grants:
  - groups: [developers]
    allow: [demo:readonly]
statements:
  readonly:
    allow: [select, explain, show, set, transaction]
    deny_functions: [pg_read_file, pg_read_binary_file, pg_ls_dir, lo_export, lo_import, dblink]
masking:
  pii:
    columns:
      public.customers.email: email
      public.customers.ssn: redact
      public.customers.card_number: last4
      public.customers.phone: hash
`, demo.port, demo.passwordFile)
	}
	b.WriteString("recording:\n  store: file\n  dir: recordings\n")
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, "", fmt.Errorf("dev: write config: %w", err)
	}
	cfg, err := policy.Load(path)
	return cfg, path, err
}

type devWelcome struct {
	dir, cfgPath, apiURL, token string
	demo                        *demoDB
	consoleLink                 string
	consoleErr                  error
}

func printDevWelcome(out io.Writer, w devWelcome) {
	self := selfName()
	fmt.Fprintf(out, "\ngatehouse dev is running. Data: %s. Ctrl-C stops everything it started.\n\n", w.dir)
	fmt.Fprintf(out, "1. Log in (one-time token, dev mode only):\n   %s login --server %s --dev %s\n\n", self, w.apiURL, w.token)
	fmt.Fprintf(out, "2. Write an ssh config for the bastion:\n   %s ssh-config > %s/ssh_config\n\n", self, w.dir)
	if w.demo == nil {
		fmt.Fprintf(out, "No demo database: %v\n\n", pgrun.ErrNotInstalled)
	} else {
		fmt.Fprintf(out, "3. Open a tunnel to the demo database:\n   ssh -F %s/ssh_config -N -L 15432:demo:%d gatehouse &\n\n", w.dir, w.demo.port)
		fmt.Fprintf(out, "4. Query it as the role readonly (gatehouse holds the database password; the masking policy pii masks e-mail addresses and card numbers):\n   psql -h 127.0.0.1 -p 15432 -U readonly demo -c 'SELECT name, email, card_number FROM customers LIMIT 5'\n\n")
		fmt.Fprintf(out, "   A write is refused by the statement policy:\n   psql -h 127.0.0.1 -p 15432 -U readonly demo -c 'DELETE FROM customers'\n\n")
	}
	fmt.Fprintf(out, "5. See what was recorded:\n   %s sessions --config %s\n\n", self, w.cfgPath)
	if w.consoleErr != nil {
		fmt.Fprintf(out, "No console link: %v\n\n", w.consoleErr)
		return
	}
	fmt.Fprintf(out, "6. Or open the auditor's console in a browser (a single-use link for %s; mint another with `%s console link --config %s --identity NAME`):\n   %s\n\n",
		devAuditor, self, w.cfgPath, w.consoleLink)
}

// selfName is how the user invoked us, so the printed commands work as typed.
func selfName() string {
	if strings.Contains(os.Args[0], "/") {
		return os.Args[0]
	}
	return "gatehouse"
}
