package policy

import (
	"slices"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// StatementPolicy is a named set of rules for what statements a role may run.
type StatementPolicy struct {
	Allow            []sqlkind.Kind `yaml:"allow"`
	Deny             []sqlkind.Kind `yaml:"deny"`
	DenyFunctions    []string       `yaml:"deny_functions"`
	DenyRelations    []string       `yaml:"deny_relations"`
	LogParameters    bool           `yaml:"log_parameters"`
	StatementTimeout Duration       `yaml:"statement_timeout"`
}

// MaskingPolicy names columns whose values are masked before results leave.
type MaskingPolicy struct {
	Columns        map[string]string `yaml:"columns"`
	OnDerived      OnDerived         `yaml:"on_derived"`
	DenyProbing    bool              `yaml:"deny_probing"`
	AllowFunctions []string          `yaml:"allow_functions"`
	Detectors      []string          `yaml:"detectors"`
}

// OnDerived is what a masking policy does with an output computed from
// masked columns (a cast, a function, a concatenation).
type OnDerived string

const (
	// DerivedMask masks the computed output (the default).
	DerivedMask OnDerived = "mask"
	// DerivedDeny refuses the statement.
	DerivedDeny OnDerived = "deny"
)

// StatementKinds are the kinds `allow` and `deny` may name (DESIGN.md):
// every kind a statement is classified into, and all.
var StatementKinds = append(slices.Clone(sqlkind.Known), sqlkind.All)

// MaskFunctions are the mask functions a masking policy may name.
var MaskFunctions = []string{"redact", "email", "last4", "hash", "null"}

// Detectors are the content detectors a masking policy may enable.
var Detectors = []string{"email", "credit_card", "us_ssn", "iban", "aws_access_key", "jwt"}
