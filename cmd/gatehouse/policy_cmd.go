package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/policy"
)

func runPolicy(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return usageError("usage: gatehouse policy check [--config] FILE")
	}
	fs := newFlags("policy check", out)
	path := configFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		return usageError("policy check: name the configuration file (gatehouse policy check gatehouse.yaml)")
	}
	cfg, err := policy.Load(*path)
	if err != nil {
		return err
	}
	if err := checkTrustedKeys(cfg); err != nil { // serve would refuse to start
		return fmt.Errorf("%s: %w", *path, err)
	}
	fmt.Fprintf(out, "%s: valid\n\n", *path)
	explainPolicy(out, cfg)
	return nil
}

// explainPolicy says in plain words what a configuration grants.
func explainPolicy(out io.Writer, cfg *policy.Config) {
	fmt.Fprintln(out, "Targets (clients use: ssh -N -L LOCALPORT:TARGET:PORT gatehouse):")
	for _, name := range sorted(cfg.Targets) {
		t := cfg.Targets[name]
		fmt.Fprintf(out, "  %s  %s on port %d (tls %s)\n", name, t.Protocol, t.Port(), t.TLS)
		for _, rn := range sorted(t.Roles) {
			r := t.Roles[rn]
			fmt.Fprintf(out, "    role %-12s upstream user %q, statements %s, masking %s\n",
				rn, r.Credentials.User, orNone(r.Statements), orNone(r.Masking))
		}
	}
	fmt.Fprintf(out, "\nGrants (certificates last at most %s; agents at most %s):\n", cfg.CA.MaxTTL.D(), cfg.CA.AgentMaxTTL.D())
	for _, g := range cfg.Grants {
		ttl := cfg.CA.MaxTTL.D()
		if g.MaxTTL > 0 && g.MaxTTL.D() < ttl {
			ttl = g.MaxTTL.D()
		}
		if a := g.RequiresApproval; a != nil {
			fmt.Fprintf(out, "  members of %s may request %s, approved by members of %s for up to %s, in certificates of up to %s\n",
				strings.Join(g.Groups, ", "), strings.Join(g.Allow, ", "), strings.Join(a.Approvers, ", "), a.MaxTTL.D(), ttl)
			continue
		}
		fmt.Fprintf(out, "  members of %s may receive %s for up to %s\n",
			strings.Join(g.Groups, ", "), strings.Join(g.Allow, ", "), ttl)
	}
	if len(cfg.Grants) == 0 {
		fmt.Fprintln(out, "  none: no identity can get a certificate from the identity provider")
	}
	fmt.Fprintf(out, "\nRecording: %s store", cfg.Recording.Store)
	if cfg.Recording.Store == "file" {
		fmt.Fprintf(out, " in %s", cfg.Path(cfg.Recording.Dir))
	}
	fmt.Fprintf(out, ", fail closed: %t", *cfg.Recording.FailClosed)
	switch w := cfg.Recording.DecisionSyncWindow.D(); {
	case w > 0:
		fmt.Fprintf(out, ", decisions fsynced within %s (statements do not wait for them)", w)
	case cfg.Recording.OverlapsReads():
		fmt.Fprint(out, ", decisions fsynced before each statement runs (reads: before their results leave)")
	default:
		fmt.Fprint(out, ", decisions fsynced before each statement runs")
	}
	fmt.Fprintln(out)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
