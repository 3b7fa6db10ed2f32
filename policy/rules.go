package policy

// StatementPolicy is a named set of rules for what statements a role may run.
type StatementPolicy struct {
	Allow            []string `yaml:"allow"`
	Deny             []string `yaml:"deny"`
	DenyFunctions    []string `yaml:"deny_functions"`
	DenyRelations    []string `yaml:"deny_relations"`
	LogParameters    bool     `yaml:"log_parameters"`
	StatementTimeout Duration `yaml:"statement_timeout"`
}

// MaskingPolicy names columns whose values are masked before results leave.
type MaskingPolicy struct {
	Columns        map[string]string `yaml:"columns"`
	OnDerived      string            `yaml:"on_derived"` // mask (default) | deny
	DenyProbing    bool              `yaml:"deny_probing"`
	AllowFunctions []string          `yaml:"allow_functions"`
	Detectors      []string          `yaml:"detectors"`
}

// StatementKinds are the kinds `allow` and `deny` may name (DESIGN.md).
var StatementKinds = []string{
	"select", "insert", "update", "delete", "merge", "copy_from", "copy_to",
	"ddl", "truncate", "grant", "explain", "show", "set", "transaction",
	"call", "do", "prepare", "execute", "listen_notify", "vacuum_analyze",
	"drop_database", "alter_system", "set_role", "other", "all",
}

// MaskFunctions are the mask functions a masking policy may name.
var MaskFunctions = []string{"redact", "email", "last4", "hash", "null"}

// Detectors are the content detectors a masking policy may enable.
var Detectors = []string{"email", "credit_card", "us_ssn", "iban", "aws_access_key", "jwt"}
