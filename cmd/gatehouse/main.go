// Command gatehouse is the whole product in one binary: the bastion and CA
// server, the engineer's login client, and the operator's and auditor's
// tools. This package parses flags and wires packages together; the logic
// lives in those packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

const usage = `gatehouse: an identity-aware SSH bastion for database access by AI agents

Usage: gatehouse COMMAND [flags]

Server and operator:
  serve --config F          run the bastion (SSH) and the certificate API; GET /healthz on
                            the API answers 503 with the reason while sessions cannot be recorded;
                            /metrics, /healthz and /readyz on ops.listen (default 127.0.0.1:9100),
                            and /debug/pprof/ there with ops.pprof: true (default off);
                            SIGTERM drains: no new sessions, live ones end after ssh.drain_timeout
                            (default 30s), exit 0; a second SIGTERM or SIGINT stops at once
                            (docs/operations.md)
  dev [--data-dir D]        everything on this machine with embedded defaults (make run)
  ca init --config F        generate the user and host CA keys in data_dir (none with ca.signer.vault)
  ca sign --config F ...    mint a certificate without an IdP (recorded like any issuance)
  policy check [--config] F validate a configuration and explain what it grants
  revoke --config F (--serial N | --identity NAME | --key SHA256:…) [--reason TEXT]
                            revoke certificates: refused at once, live sessions end within 5s
  state migrate --config F  apply the shared state database's migrations (state.store: postgres;
                            serve applies them at start too)
  state import --config F   copy data_dir's revocations.json, requests.json and the CA's issued
                            certificates into the state database; idempotent, says what it added

Engineer:
  login [--server URL]      sign in at the identity provider and get a short-lived certificate
  status [--offline]        show identity, grants, time left and whether the server revoked
                            it; exits 1 when the certificate cannot be used
  ssh-config                print an ssh_config Host block for the bastion
  agent-cert --agent NAME   mint an agent its own certificate, within your grants and time:
                            [--grant T:R ...] [--ttl D] [--run-id ID] [--ticket ID]
  request --grant T:R --reason TEXT [--ttl D]
                            ask for a grant that requires approval
  requests                  list pending access requests you filed or may decide
  approve ID                approve another's access request (approvers of its grant)
  deny ID --reason TEXT     deny an access request

Auditor:
  sessions --config F       list recorded sessions; filters: --identity, --agent, --target,
                            --since, --until, --outcome refused|clean|open, --human, --role,
                            --decision allow|deny, --denials yes|no, --masked yes|no,
                            --verification verified|failed|incomplete (checked with the keys)
  verify --config F SESSION check a recording's chain, signatures and manifest; or every
                            recording --since T; offline: --dir DIR --pubkey KEY (keys rotated
                            out: recording.trusted_keys, or the JSON of GET /v1/recorder-keys)
  replay --config F SESSION a session as a timeline at its real pace (--speed N, --no-wait)
                            (sessions, verify and replay read the S3 bucket when --config
                            names store s3; --dir DIR reads a recordings directory)
  evidence --config F --from T --to T --out FILE.zip [--identity NAME ...] [--target T ...]
                            the SOC 2 evidence bundle of a period (or --since 90d): sessions,
                            statements, denials, issuances, requests, revocations, exposure,
                            activity, verification with Object Lock, completeness as CSV and
                            JSON Lines, report.html and README.txt, with a manifest signed by
                            the recorder key (docs/evidence.md)
  verify --bundle FILE.zip --pubkey KEY
                            check an evidence bundle offline: signature (the recorder key, or
                            the console key for a bundle from the console's /evidence), each
                            file's SHA-256 and row count; names every file that differs
  recorder pubkey --config F [--console]
                            print the recorder's public key (what verify --pubkey takes), or
                            the console's (what verify --console-pubkey takes)
  console --config F        the read-only web console (console.listen, default 127.0.0.1:8444):
                            auditors (console.auditor_groups) log in at identity.oidc and
                            see an overview with its exceptions, browse and export sessions,
                            statements, access requests, identities and exposure, and their
                            own activity; every view is recorded (docs/console.md)
  console link --config F --identity NAME [--ttl 8h] [--from T] [--to T] [--target T ...]
                            print a single-use console URL for an external auditor, limited
                            to that period and those targets (the minting is recorded)
  console reindex --config F
                            make the console's index (console.index_dir) anew from every
                            recording; the console also does it when the index is missing,
                            damaged or of another version, and keeps it current itself

Run "gatehouse COMMAND --help" for a command's flags, "gatehouse --version" for the version. Commands that read the
server configuration take --config F or the GATEHOUSE_CONFIG environment variable.
`

type command struct {
	run  func(ctx context.Context, args []string, out io.Writer) error
	help string
}

func commands() map[string]command {
	return map[string]command{
		"serve":      {runServe, "run the bastion and the certificate API"},
		"dev":        {runDev, "run everything locally with embedded defaults"},
		"ca":         {runCA, "CA key and certificate commands"},
		"policy":     {runPolicy, "policy commands"},
		"login":      {runLogin, "get a certificate"},
		"status":     {runStatus, "show the current certificate"},
		"ssh-config": {runSSHConfig, "print an ssh_config Host block"},
		"agent-cert": {runAgentCert, "mint a certificate for an agent"},
		"request":    {runRequest, "request a grant that requires approval"},
		"requests":   {runRequests, "list pending access requests"},
		"approve":    {runApprove, "approve an access request"},
		"deny":       {runDeny, "deny an access request"},
		"revoke":     {runRevoke, "revoke certificates"},
		"state":      {runState, "shared state database commands"},
		"sessions":   {runSessions, "list recorded sessions"},
		"verify":     {runVerify, "verify recordings"},
		"evidence":   {runEvidence, "write the evidence bundle of a period"},
		"replay":     {runReplay, "replay a recorded session"},
		"recorder":   {runRecorder, "recorder key commands"},
		"console":    {runConsole, "serve the auditor's web console"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals(os.Args[1:])...)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, errHelpShown) {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// stopSignals are the signals that end a command at once: SIGINT, and
// SIGTERM for every command but serve, which drains on SIGTERM
// (drainOnSIGTERM, docs/operations.md).
func stopSignals(args []string) []os.Signal {
	if len(args) > 0 && args[0] == "serve" {
		return []os.Signal{os.Interrupt}
	}
	return []os.Signal{os.Interrupt, syscall.SIGTERM}
}

// exitError carries a specific exit status (2 for usage errors).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return exitError{2, fmt.Errorf(format, args...)}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(out, usage)
		return nil
	}
	if args[0] == "version" || args[0] == "--version" || args[0] == "-version" {
		fmt.Fprintln(out, versionLine())
		return nil
	}
	cmds := commands()
	cmd, ok := cmds[args[0]]
	if !ok {
		names := make([]string, 0, len(cmds))
		for n := range cmds {
			names = append(names, n)
		}
		sort.Strings(names)
		return usageError("unknown command %q (commands: %v; see gatehouse --help)", args[0], names)
	}
	return cmd.run(ctx, args[1:], out)
}

// newFlags makes a flag set that reports errors instead of exiting, so
// usage mistakes come back as exit status 2 with the flag's message. Its
// --help starts with a usage line naming the command's arguments.
func newFlags(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", usageLine(name))
		fs.PrintDefaults()
	}
	return fs
}

// positionalArgs are the arguments each command takes besides its flags,
// as its usage line shows them.
var positionalArgs = map[string]string{
	"policy check": "[F]",
	"verify":       "(SESSION... | --since T)",
	"replay":       "SESSION",
	"approve":      "ID",
	"deny":         "ID --reason TEXT",
}

func usageLine(name string) string {
	line := "gatehouse " + name + " [flags]"
	if args, ok := positionalArgs[name]; ok {
		line += " " + args
	}
	return line
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelpShown
		}
		return exitError{2, err}
	}
	return nil
}

var errHelpShown = exitError{0, errors.New("help shown")}

// configFlag registers --config with GATEHOUSE_CONFIG as its default.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv("GATEHOUSE_CONFIG"), "configuration file (default $GATEHOUSE_CONFIG)")
}

// flagSetWithProfile is a flag set with the --profile flag that every
// engineer-side command shares.
type flagSetWithProfile struct {
	*flag.FlagSet
	profile string
}
