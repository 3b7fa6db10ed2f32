package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/ca/login"
)

// runRequest is `gatehouse request`: ask for a grant that requires
// approval, on the authority of the profile's certificate.
func runRequest(ctx context.Context, args []string, out io.Writer) error {
	fs := profileFlags("request", out)
	grant := fs.String("grant", "", "TARGET:ROLE to request, one the policy gives on approval (required)")
	reason := fs.String("reason", "", "why you need it, e.g. a ticket or incident (required)")
	ttl := fs.String("ttl", "", "how long the approval should last, e.g. 15m (default and maximum: the grant's requires_approval.max_ttl)")
	if err := parseFlags(fs.FlagSet, args); err != nil {
		return err
	}
	if *grant == "" || *reason == "" || fs.NArg() > 0 {
		return usageError("request: --grant TARGET:ROLE and --reason TEXT are required")
	}
	lifetime, err := parseOptionalDuration(*ttl)
	if err != nil {
		return usageError("request: --ttl: %v", err)
	}
	if _, err := login.FileRequest(ctx, login.RequestOptions{Profile: fs.profile, Out: out}, *grant, *reason, lifetime); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	return nil
}

// runRequests is `gatehouse requests`: the pending requests you filed
// or may decide.
func runRequests(ctx context.Context, args []string, out io.Writer) error {
	fs := profileFlags("requests", out)
	if err := parseFlags(fs.FlagSet, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("requests: takes no arguments")
	}
	if _, err := login.ListRequests(ctx, login.RequestOptions{Profile: fs.profile, Out: out}); err != nil {
		return fmt.Errorf("requests: %w", err)
	}
	return nil
}

// runApprove is `gatehouse approve ID`.
func runApprove(ctx context.Context, args []string, out io.Writer) error {
	return decide(ctx, "approve", args, out)
}

// runDeny is `gatehouse deny ID --reason TEXT`.
func runDeny(ctx context.Context, args []string, out io.Writer) error {
	return decide(ctx, "deny", args, out)
}

func decide(ctx context.Context, name string, args []string, out io.Writer) error {
	fs := profileFlags(name, out)
	help := "why (optional)"
	if name == "deny" {
		help = "why it is denied (required)"
	}
	reason := fs.String("reason", "", help)
	// Accept the ID before or after the flags.
	var id string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		id, args = args[0], args[1:]
	}
	if err := parseFlags(fs.FlagSet, args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageError("%s: takes one request ID", name)
	}
	if id == "" {
		return usageError("%s: name the request: gatehouse %s ID", name, name)
	}
	if name == "deny" && *reason == "" {
		return usageError("deny: --reason TEXT is required")
	}
	if _, err := login.DecideRequest(ctx, login.RequestOptions{Profile: fs.profile, Out: out}, id, name == "approve", *reason); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
