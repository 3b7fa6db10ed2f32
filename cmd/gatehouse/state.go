package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/pgstate"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// caState is the CA's state as state.store places it (ca/state.go).
type caState struct {
	requests ca.AccessRequests
	issued   ca.IssuedRecord // what revocation reads
	keep     ca.IssuedLog    // nil: the recordings are the record
	list     *ca.RevocationList
	writer   ca.RevocationWriter
	// watch keeps list current until ctx ends, calling onChange when it
	// grows.
	watch func(ctx context.Context, log *slog.Logger, onChange func())
	close func()
	// shared is the state database of state.store: postgres (nil: the
	// files in data_dir), and revs its revocation list's watcher.
	shared *pgstate.Store
	revs   *pgstate.Revocations
}

// openState opens the state state.store names: the files in data_dir,
// or the shared PostgreSQL database (migrated first).
func openState(ctx context.Context, cfg *policy.Config) (*caState, error) {
	if cfg.State.Store == "postgres" {
		return openSharedState(ctx, cfg)
	}
	return openFileState(cfg)
}

// openFileState opens the state of state.store: file.
func openFileState(cfg *policy.Config) (*caState, error) {
	list, err := ca.OpenRevocationList(cfg.Path(ca.RevocationFile))
	if err != nil {
		return nil, err
	}
	requests, err := ca.OpenRequestStore(cfg.Path(requestsFile))
	if err != nil {
		return nil, err
	}
	return &caState{
		requests: requests,
		issued:   newIssuedIndex(cfg),
		list:     list,
		writer:   ca.RevocationListFile{Path: list.Path()},
		watch: func(ctx context.Context, log *slog.Logger, onChange func()) {
			list.Watch(ctx, revocationPoll, log, onChange)
		},
		close: func() {},
	}, nil
}

// openSharedState opens the state of state.store: postgres, and reads
// the revocation list: a replica that cannot starts no server.
func openSharedState(ctx context.Context, cfg *policy.Config) (*caState, error) {
	store, err := openStateStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	revs, list := store.Revocations(), ca.NewRevocationList()
	if _, err := revs.Refresh(ctx, list); err != nil {
		store.Close()
		return nil, fmt.Errorf("state: %w", err)
	}
	issued := store.Issued()
	return &caState{
		requests: store.Requests(),
		issued:   issued,
		keep:     issued,
		list:     list,
		writer:   revs,
		watch: func(ctx context.Context, log *slog.Logger, onChange func()) {
			revs.Watch(ctx, list, log, onChange)
		},
		close:  store.Close,
		shared: store,
		revs:   revs,
	}, nil
}

// openStateStore connects to the state database of state.dsn_env and
// applies its migrations.
func openStateStore(ctx context.Context, cfg *policy.Config) (*pgstate.Store, error) {
	dsn, err := cfg.State.StateDSN()
	if err != nil {
		return nil, err
	}
	store, err := pgstate.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("state: %w (check the database %s names, and that it accepts this server)", err, cfg.State.DSNEnv)
	}
	return store, nil
}

// requestsFile keeps the access requests of state.store: file, in
// data_dir.
const requestsFile = "requests.json"
