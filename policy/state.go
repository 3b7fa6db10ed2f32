package policy

import (
	"fmt"
	"os"
)

// StateConfig says where the CA keeps what replicas must agree on:
// revocations, access requests and their decisions, and the certificates
// issued (ca/state.go).
type StateConfig struct {
	// Store is file (the default: data_dir, one machine) or postgres
	// (a PostgreSQL database shared by every replica).
	Store string `yaml:"store"`
	// DSNEnv names the environment variable that holds the PostgreSQL
	// connection string (a URL or key=value DSN) for store postgres. The
	// DSN carries a password, so it is never in this file. Default
	// GATEHOUSE_STATE_DSN.
	DSNEnv string `yaml:"dsn_env"`
}

// DefaultStateDSNEnv is state.dsn_env's default.
const DefaultStateDSNEnv = "GATEHOUSE_STATE_DSN"

func (s *StateConfig) applyDefaults() {
	if s.Store == "" {
		s.Store = "file"
	}
	if s.DSNEnv == "" {
		s.DSNEnv = DefaultStateDSNEnv
	}
}

func (s StateConfig) validate() []error {
	switch s.Store {
	case "file":
		return nil
	case "postgres":
		return nil // the variable is read, and its absence refused, by the commands that connect
	default:
		return []error{fmt.Errorf("state.store: %q, want file (one machine) or postgres (replicas sharing a database)", s.Store)}
	}
}

// StateDSN returns the connection string of state.store: postgres from
// the environment variable state.dsn_env names.
func (s StateConfig) StateDSN() (string, error) {
	dsn := os.Getenv(s.DSNEnv)
	if dsn == "" {
		return "", fmt.Errorf("state.store: postgres: the environment variable %s (state.dsn_env) is empty or unset; "+
			"set it to the state database's connection string, e.g. postgres://gatehouse@db:5432/gatehouse_state", s.DSNEnv)
	}
	return dsn, nil
}
