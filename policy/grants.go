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
}

// Entitlement is what an identity may put into a certificate: the
// principals and the longest lifetime all of them together allow.
type Entitlement struct {
	Principals []string
	MaxTTL     time.Duration
}

// EntitlementFor derives principals from an identity's groups. A principal
// reachable through several grants keeps the most generous of their caps;
// the certificate as a whole gets the tightest cap of its principals, so a
// short-lived admin grant is never stretched by a longer read-only one.
func (c *Config) EntitlementFor(groups []string) Entitlement {
	caps := map[string]time.Duration{}
	for _, g := range c.Grants {
		if !intersects(g.Groups, groups) {
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
