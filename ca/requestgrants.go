package ca

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
)

// approvedGrant is a principal an approved access request adds to a
// certificate, and until when.
type approvedGrant struct {
	principal string
	requestID string
	until     time.Time     // the approval's expiry
	certCap   time.Duration // the grant's max_ttl, within ca.max_ttl
}

// approvedGrants are the principals the identity's approved, unexpired
// access requests give, besides those it already holds through its
// groups. A request counts only while its grant still requires approval
// and the identity is still in one of the grant's groups.
func (a *Authority) approvedGrants(id policy.Identity, held []string) ([]approvedGrant, error) {
	if a.Requests == nil || id.Agent != "" {
		return nil, nil
	}
	now := a.now()
	approvals, err := a.Requests.Approved(id, now)
	if err != nil {
		return nil, stateError("issuing the certificate", err)
	}
	var out []approvedGrant
	for _, r := range approvals {
		if slices.Contains(held, r.Grant) || slices.ContainsFunc(out, func(g approvedGrant) bool { return g.principal == r.Grant }) {
			continue // the newest approval of a grant is the one that counts
		}
		rq, ok := a.Policy.RequestableFor(r.Grant, id.Groups)
		if !ok || r.ExpiresAt.Sub(now) < time.Second {
			continue
		}
		out = append(out, approvedGrant{principal: r.Grant, requestID: r.ID, until: r.ExpiresAt, certCap: rq.CertMaxTTL})
	}
	return out, nil
}

func approvedPrincipals(gs []approvedGrant) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.principal)
	}
	return out
}

// withApprovals adds to gs the approved grants among wanted (all of them
// when wanted is nil): each caps the certificate's life at the grant's
// max_ttl and at the approval's remaining time, and names its request.
func (a *Authority) withApprovals(gs grantSet, approved []approvedGrant, wanted []string) grantSet {
	now := a.now()
	for _, g := range approved {
		if wanted != nil && !slices.Contains(wanted, g.principal) {
			continue
		}
		gs.principals = append(gs.principals, g.principal)
		gs.requestIDs = append(gs.requestIDs, g.requestID)
		if g.certCap < gs.maxTTL {
			gs.maxTTL, gs.capName = g.certCap, "the max_ttl of the grant of "+g.principal
		}
		if remaining := g.until.Sub(now).Truncate(time.Second); remaining < gs.maxTTL {
			gs.maxTTL, gs.capName = remaining, fmt.Sprintf("the approval of %s for %s, which ends at %s",
				g.requestID, g.principal, g.until.UTC().Format(time.RFC3339))
		}
	}
	sort.Strings(gs.principals)
	sort.Strings(gs.requestIDs)
	return gs
}
