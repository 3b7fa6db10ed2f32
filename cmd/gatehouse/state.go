package main

import (
	"context"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/ca"
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
}

// openState opens the state of state.store: file, the files in
// data_dir.
func openState(cfg *policy.Config) (*caState, error) {
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

// requestsFile keeps the access requests of state.store: file, in
// data_dir.
const requestsFile = "requests.json"
