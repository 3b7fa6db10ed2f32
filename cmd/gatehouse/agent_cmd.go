package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/ca/login"
)

// runAgentCert is `gatehouse agent-cert`: a logged-in engineer mints a
// narrower, shorter-lived certificate for an agent's own key.
func runAgentCert(ctx context.Context, args []string, out io.Writer) error {
	fs := profileFlags("agent-cert", out)
	agent := fs.String("agent", "", "the agent's name, e.g. claude-code (required)")
	var grants stringList
	fs.Var(&grants, "grant", "TARGET:ROLE to give the agent, among your own grants (repeatable; default: all of yours)")
	ttl := fs.String("ttl", "", "lifetime, e.g. 15m (default and maximum: ca.agent_max_ttl, and never past your own certificate)")
	runID := fs.String("run-id", "", "the agent run this certificate is for, recorded in its identity")
	ticket := fs.String("ticket", "", "the ticket this work is for, recorded in its identity")
	if err := parseFlags(fs.FlagSet, args); err != nil {
		return err
	}
	if *agent == "" {
		return usageError("agent-cert: --agent NAME is required")
	}
	lifetime, err := parseOptionalDuration(*ttl)
	if err != nil {
		return usageError("agent-cert: --ttl: %v", err)
	}
	_, err = login.AgentCert(ctx, login.AgentOptions{
		Agent: *agent, Grants: grants, TTL: lifetime, RunID: *runID, TicketID: *ticket,
		Profile: fs.profile, Out: out,
	})
	if err != nil {
		return fmt.Errorf("agent-cert: %w", err)
	}
	return nil
}
