package policy

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Target is a named destination the bastion may connect to. Clients name
// it in `ssh -L PORT:NAME:PORT`; its address is never shown to them.
type Target struct {
	Protocol string           `yaml:"protocol"` // postgres | tcp
	Address  string           `yaml:"address"`  // host:port, dialled by the bastion
	TLS      string           `yaml:"tls"`      // disable (default) | require | verify-full
	CAFile   string           `yaml:"ca_file"`
	Roles    map[string]*Role `yaml:"roles"`
	// MaxSessions bounds the database sessions open at once through
	// gatehouse to a postgres target, for everyone together, so that no
	// one exhausts the database's max_connections. 0: DefaultMaxSessions.
	MaxSessions int `yaml:"max_sessions"`
	// MaxSessionsPerCertificate bounds those of one certificate (its
	// serial and key), over all its SSH connections. 0:
	// DefaultMaxSessionsPerCertificate.
	MaxSessionsPerCertificate int `yaml:"max_sessions_per_certificate"`
}

// Defaults of a postgres target's session limits.
const (
	DefaultMaxSessions               = 50
	DefaultMaxSessionsPerCertificate = 10
)

// SessionLimits are the target's limits on concurrent database sessions:
// for everyone together, and for one certificate.
func (t *Target) SessionLimits() (total, perCertificate int) {
	total, perCertificate = t.MaxSessions, t.MaxSessionsPerCertificate
	if total == 0 {
		total = DefaultMaxSessions
	}
	if perCertificate == 0 {
		perCertificate = DefaultMaxSessionsPerCertificate
	}
	return total, perCertificate
}

// Role is a database role a client may ask for in its startup message.
type Role struct {
	Credentials     Credentials `yaml:"credentials"`
	Statements      string      `yaml:"statements"`
	Masking         string      `yaml:"masking"`
	AgentStatements string      `yaml:"agent_statements"`
	AgentMasking    string      `yaml:"agent_masking"`
}

// Credentials are what the bastion presents upstream; clients never see them.
type Credentials struct {
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	Vault        string `yaml:"vault"`
}

// Port is the target's port, the only one a client may ask to forward to.
func (t *Target) Port() int {
	_, p, err := net.SplitHostPort(t.Address)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// Principal is a certificate principal: TARGET:ROLE.
type Principal struct {
	Target string
	Role   string
}

func (p Principal) String() string { return p.Target + ":" + p.Role }

// ParsePrincipal splits "orders:readonly" into its target and role.
func ParsePrincipal(s string) (Principal, error) {
	t, r, ok := strings.Cut(s, ":")
	if !ok || !validName(t) || !validName(r) {
		return Principal{}, fmt.Errorf("invalid grant %q: want TARGET:ROLE, for example orders:readonly", s)
	}
	return Principal{Target: t, Role: r}, nil
}

// validName accepts the names used for targets and roles: lower-case
// letters, digits, '-' and '_', starting with a letter. Keeping names
// apart from hostnames and addresses is what stops a client from naming an
// arbitrary host as a tunnel destination.
func validName(s string) bool {
	if s == "" || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Target returns the named target, or nil.
func (c *Config) Target(name string) *Target { return c.Targets[name] }

// HasPrincipal reports whether TARGET:ROLE names a configured target and role.
func (c *Config) HasPrincipal(p Principal) bool {
	t := c.Targets[p.Target]
	return t != nil && t.Roles[p.Role] != nil
}
