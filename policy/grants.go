package policy

import (
	"slices"
	"sort"
	"time"
)

// Grant maps IdP groups to the principals their members may receive.
type Grant struct {
	Groups []string `yaml:"groups"`
	Allow  []string `yaml:"allow"`
	MaxTTL Duration `yaml:"max_ttl"`
	// RequiresApproval makes the grant just-in-time: membership of Groups
	// lets one request it (`gatehouse request`), and a certificate
	// carries it only while an approval by a member of one of
	// RequiresApproval.Approvers lasts. nil: given by membership alone.
	RequiresApproval *Approval `yaml:"requires_approval"`
}

// Approval is how a grant that requires approval is approved: by a member
// of one of Approvers (never the requester), for at most MaxTTL from the
// approval.
type Approval struct {
	Approvers []string `yaml:"approvers"`
	MaxTTL    Duration `yaml:"max_ttl"`
}

// Requestable is what the policy says about requesting one principal:
// who may approve it, for how long an approval lasts, and the longest a
// certificate carrying it may live.
type Requestable struct {
	Approvers  []string
	MaxTTL     time.Duration // of an approval
	CertMaxTTL time.Duration // the grant's max_ttl, within ca.max_ttl
}

// RequestableFor reports whether members of groups may request principal
// through a grant that requires approval. Several such grants combine:
// the approvers of all of them, the longest of their caps.
func (c *Config) RequestableFor(principal string, groups []string) (Requestable, bool) {
	var r Requestable
	found := false
	for _, g := range c.Grants {
		if g.RequiresApproval == nil || !intersects(g.Groups, groups) || !slices.Contains(g.Allow, principal) {
			continue
		}
		found = true
		for _, a := range g.RequiresApproval.Approvers {
			if !slices.Contains(r.Approvers, a) {
				r.Approvers = append(r.Approvers, a)
			}
		}
		r.MaxTTL = max(r.MaxTTL, g.RequiresApproval.MaxTTL.D())
		limit := c.CA.MaxTTL.D()
		if g.MaxTTL > 0 && g.MaxTTL.D() < limit {
			limit = g.MaxTTL.D()
		}
		r.CertMaxTTL = max(r.CertMaxTTL, limit)
	}
	sort.Strings(r.Approvers)
	return r, found
}

// IsApprover reports whether groups include one of r's approvers.
func (r Requestable) IsApprover(groups []string) bool { return intersects(r.Approvers, groups) }

// Entitlement is what an identity may put into a certificate: the
// principals and the longest lifetime all of them together allow.
type Entitlement struct {
	Principals []string
	MaxTTL     time.Duration
}

// EntitlementFor derives principals from an identity's groups; grants
// that require approval are not part of it (see RequestableFor). A principal
// reachable through several grants keeps the most generous of their caps;
// the certificate as a whole gets the tightest cap of its principals, so a
// short-lived admin grant is never stretched by a longer read-only one.
func (c *Config) EntitlementFor(groups []string) Entitlement {
	caps := map[string]time.Duration{}
	for _, g := range c.Grants {
		if g.RequiresApproval != nil || !intersects(g.Groups, groups) {
			continue
		}
		limit := c.CA.MaxTTL.D()
		if g.MaxTTL > 0 && g.MaxTTL.D() < limit {
			limit = g.MaxTTL.D()
		}
		for _, p := range g.Allow {
			if limit > caps[p] {
				caps[p] = limit
			}
		}
	}
	return entitlementOf(caps)
}

func entitlementOf(caps map[string]time.Duration) Entitlement {
	e := Entitlement{}
	for p, d := range caps {
		e.Principals = append(e.Principals, p)
		if e.MaxTTL == 0 || d < e.MaxTTL {
			e.MaxTTL = d
		}
	}
	sort.Strings(e.Principals)
	return e
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
