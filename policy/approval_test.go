package policy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// withApprovalGrant adds to sampleConfig a grant of orders:admin to
// engineering that requires approval by dba-leads.
func withApprovalGrant(approval string) string {
	return strings.Replace(sampleConfig, "grants:\n", "grants:\n  - groups: [engineering]\n    allow: [orders:admin]\n    max_ttl: 20m\n"+approval, 1)
}

func TestRequiresApproval(t *testing.T) {
	cfg, err := Parse([]byte(withApprovalGrant("    requires_approval: {approvers: [dba-leads], max_ttl: 30m}\n")))
	if err != nil {
		t.Fatal(err)
	}
	// Membership alone does not give the grant.
	ent := cfg.EntitlementFor([]string{"engineering"})
	if slices.Contains(ent.Principals, "orders:admin") {
		t.Errorf("engineering is entitled to orders:admin without approval: %v", ent.Principals)
	}
	r, ok := cfg.RequestableFor("orders:admin", []string{"engineering"})
	if !ok {
		t.Fatal("orders:admin is not requestable by engineering")
	}
	if !slices.Equal(r.Approvers, []string{"dba-leads"}) || r.MaxTTL != 30*time.Minute || r.CertMaxTTL != 20*time.Minute {
		t.Errorf("requestable = %+v", r)
	}
	if !r.IsApprover([]string{"x", "dba-leads"}) || r.IsApprover([]string{"engineering"}) {
		t.Error("IsApprover judged wrongly")
	}
	if _, ok := cfg.RequestableFor("orders:admin", []string{"sales"}); ok {
		t.Error("sales may request orders:admin")
	}
	if _, ok := cfg.RequestableFor("orders:readonly", []string{"engineering"}); ok {
		t.Error("a grant without requires_approval is requestable")
	}
}

func TestRequiresApprovalValidation(t *testing.T) {
	for approval, want := range map[string]string{
		"    requires_approval: {approvers: [], max_ttl: 30m}\n":  "requires_approval.approvers: at least one group",
		"    requires_approval: {approvers: [dba-leads]}\n":       "requires_approval.max_ttl: a positive duration",
		"    requires_approval: {approvers: [''], max_ttl: 1m}\n": "an empty group name",
		"    requires_approval: {approver: [x], max_ttl: 1m}\n":   "approver",
	} {
		_, err := Parse([]byte(withApprovalGrant(approval)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", approval, err, want)
		}
	}
}
