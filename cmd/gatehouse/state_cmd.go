package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/pgstate"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// runState is `gatehouse state migrate|import`: the shared state database
// of state.store: postgres.
func runState(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError("usage: gatehouse state migrate|import --config F")
	}
	switch args[0] {
	case "migrate":
		return runStateMigrate(ctx, args[1:], out)
	case "import":
		return runStateImport(ctx, args[1:], out)
	}
	return usageError("unknown state command %q (migrate, import)", args[0])
}

// sharedStateConfig loads the configuration of a state command, which
// must name state.store: postgres.
func sharedStateConfig(name string, args []string, out io.Writer) (*policy.Config, error) {
	fs := newFlags(name, out)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	cfg, err := loadConfigFlag(*path, name)
	if err != nil {
		return nil, err
	}
	if cfg.State.Store != "postgres" {
		return nil, fmt.Errorf("%s: state.store is %s: the state lives in data_dir and there is no database; set state.store: postgres and state.dsn_env first", name, cfg.State.Store)
	}
	return cfg, nil
}

// runStateMigrate applies the schema's migrations the database lacks
// (serve does too, at start).
func runStateMigrate(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := sharedStateConfig("state migrate", args, out)
	if err != nil {
		return err
	}
	dsn, err := cfg.State.StateDSN()
	if err != nil {
		return err
	}
	store, err := pgstate.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("state migrate: %w", err)
	}
	defer store.Close()
	applied, err := store.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("state migrate: %w (check the database %s names)", err, cfg.State.DSNEnv)
	}
	for _, v := range applied {
		fmt.Fprintf(out, "applied migration %d\n", v)
	}
	fmt.Fprintf(out, "the state database (%s) is at the schema this gatehouse needs (%d migrations applied now)\n", cfg.State.DSNEnv, len(applied))
	return nil
}

// runStateImport copies data_dir's state (state.store: file) into the
// database: the revocation list, the access requests, and the
// certificates issued as the CA's recordings in data_dir hold them. What
// the database holds already is left alone, so it can be run again.
func runStateImport(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := sharedStateConfig("state import", args, out)
	if err != nil {
		return err
	}
	src, err := readFileState(cfg)
	if err != nil {
		return fmt.Errorf("state import: %w", err)
	}
	store, err := openStateStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.Import(src)
	if err != nil {
		return fmt.Errorf("state import: %w", err)
	}
	for _, line := range []struct {
		what        string
		added, read int
		from        string
	}{
		{"revocations", n.Revocations, len(src.Revocations), cfg.Path(ca.RevocationFile)},
		{"access requests", n.Requests, len(src.Requests), cfg.Path(requestsFile)},
		{"issued certificates", n.Issued, len(src.Issued), "the CA's recordings in " + cfg.Path(cfg.Recording.Dir)},
	} {
		fmt.Fprintf(out, "%s: imported %d of %d from %s (%d already there)\n", line.what, line.added, line.read, line.from, line.read-line.added)
	}
	return nil
}

// readFileState reads what state.store: file keeps in data_dir.
func readFileState(cfg *policy.Config) (pgstate.Sources, error) {
	var src pgstate.Sources
	file, err := openFileState(cfg)
	if err != nil {
		return src, err
	}
	src.Revocations = file.list.Entries()
	if src.Requests, err = file.requests.All(); err != nil {
		return src, err
	}
	src.Issued, err = file.issued.All()
	return src, err
}
