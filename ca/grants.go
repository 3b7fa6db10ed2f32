package ca

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// entitledGrants is the grant stage for token holders: the policy's
// grants for the identity's groups and the grants of its approved access
// requests (requestgrants.go), optionally narrowed to req.Grants.
func (a *Authority) entitledGrants(req Request) (grantSet, error) {
	groups := req.Identity.Groups
	ent := a.Policy.EntitlementFor(groups)
	approved, err := a.approvedGrants(req.Identity, ent.Principals)
	if err != nil {
		return grantSet{}, err
	}
	if len(ent.Principals) == 0 && len(approved) == 0 {
		return grantSet{}, refusal(caapi.CodeNoGrant, noGrantMessage(groups))
	}
	if len(req.Grants) == 0 {
		return a.withApprovals(a.grantSetOf(ent), approved, nil), nil
	}
	wanted, err := parseGrants(req.Grants)
	if err != nil {
		return grantSet{}, err
	}
	for _, w := range wanted {
		if !slices.Contains(ent.Principals, w) && !slices.ContainsFunc(approved, func(g approvedGrant) bool { return g.principal == w }) {
			return grantSet{}, refusal(caapi.CodeGrantNotAllowed, fmt.Sprintf("%s is not granted to your groups (%s); you may request %s",
				w, listOrNone(groups), strings.Join(append(slices.Clone(ent.Principals), approvedPrincipals(approved)...), ", ")))
		}
	}
	return a.withApprovals(a.grantSetOf(a.narrowedEntitlement(groups, wanted)), approved, wanted), nil
}

// narrowedEntitlement is the entitlement for only the wanted principals:
// the policy's own computation over grants whose allow lists are cut down
// to them, so that the cap of an unrequested (say, short-lived admin)
// grant does not shorten a certificate that does not carry it.
func (a *Authority) narrowedEntitlement(groups, wanted []string) policy.Entitlement {
	narrow := *a.Policy
	narrow.Grants = nil
	for _, g := range a.Policy.Grants {
		var allow []string
		for _, p := range g.Allow {
			if slices.Contains(wanted, p) {
				allow = append(allow, p)
			}
		}
		if len(allow) > 0 {
			g.Allow = allow
			narrow.Grants = append(narrow.Grants, g)
		}
	}
	return narrow.EntitlementFor(groups)
}

func (a *Authority) grantSetOf(ent policy.Entitlement) grantSet {
	if len(ent.Principals) == 0 { // only approved grants are asked for
		return grantSet{maxTTL: a.Policy.CA.MaxTTL.D(), capName: "ca.max_ttl"}
	}
	name := "ca.max_ttl"
	if ent.MaxTTL < a.Policy.CA.MaxTTL.D() {
		name = "the max_ttl of the grants for " + strings.Join(ent.Principals, ", ")
	}
	return grantSet{principals: ent.Principals, maxTTL: ent.MaxTTL, capName: name}
}

// operatorGrants is the grant stage for `gatehouse ca sign`: the operator
// is trusted to choose, but only among configured targets and roles.
func (a *Authority) operatorGrants(req Request) (grantSet, error) {
	if len(req.Grants) == 0 {
		return grantSet{}, refusal(caapi.CodeInvalidRequest, "name at least one grant (--grant TARGET:ROLE)")
	}
	wanted, err := parseGrants(req.Grants)
	if err != nil {
		return grantSet{}, err
	}
	for _, w := range wanted {
		p, _ := policy.ParsePrincipal(w) // parseGrants checked the syntax
		if !a.Policy.HasPrincipal(p) {
			return grantSet{}, refusal(caapi.CodeGrantNotAllowed, fmt.Sprintf("%s names no configured target and role (configured: %s)",
				w, listOrNone(configuredPrincipals(a.Policy))))
		}
	}
	return grantSet{principals: wanted, maxTTL: a.Policy.CA.MaxTTL.D(), capName: "ca.max_ttl"}, nil
}

// parseGrants checks TARGET:ROLE syntax and returns the grants sorted and
// without duplicates.
func parseGrants(grants []string) ([]string, error) {
	var out []string
	for _, g := range grants {
		p, err := policy.ParsePrincipal(g)
		if err != nil {
			return nil, refusal(caapi.CodeInvalidRequest, err.Error())
		}
		out = append(out, p.String())
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

func configuredPrincipals(cfg *policy.Config) []string {
	var out []string
	for tn, t := range cfg.Targets {
		if t == nil {
			continue
		}
		for rn := range t.Roles {
			out = append(out, policy.Principal{Target: tn, Role: rn}.String())
		}
	}
	sort.Strings(out)
	return out
}

func noGrantMessage(groups []string) string {
	if len(groups) == 0 {
		return "your identity carries no groups, and grants are given to groups; ask your identity provider's administrator to put you in a group the gatehouse policy grants"
	}
	return fmt.Sprintf("no grant in the policy matches your groups (%s); ask an operator to add one under grants: in gatehouse.yaml", listOrNone(groups))
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
