package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion"
	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// revocationPoll is how often serve looks at the revocation list: with
// the bastion's grace for ending a session, well inside the 5 seconds a
// revocation may take to end live sessions.
const revocationPoll = time.Second

// caStreams is the CA's record in the recording directory, as
// ca.IssuedIndex reads it.
type caStreams struct{ store recorder.FileStore }

func newIssuedIndex(cfg *policy.Config) *ca.IssuedIndex {
	return &ca.IssuedIndex{Streams: caStreams{store: recorder.FileStore{Dir: cfg.Path(cfg.Recording.Dir)}}}
}

func (s caStreams) List() ([]string, error) { return s.store.List(recorder.KindCA) }

// Closed: a manifest is written after the stream's last line.
func (s caStreams) Closed(id string) bool {
	_, err := s.store.Manifest(recorder.KindCA, id)
	return err == nil
}

// Issued reads the cert.issued events of one CA stream.
func (s caStreams) Issued(id string) ([]ca.IssuedEvent, error) {
	lines, err := s.store.Lines(recorder.KindCA, id)
	if err != nil {
		return nil, err
	}
	var out []ca.IssuedEvent
	for _, l := range lines {
		ev, err := recorder.Decode(l)
		if err != nil || ev.Type != event.TypeCertIssued {
			continue
		}
		if e, err := ca.DecodeIssued(ev.Data); err == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// watchRevocations reloads the list when it changes and ends the live
// sessions it now covers, until ctx ends.
func watchRevocations(ctx context.Context, state *caState, bst *bastion.Server, log *slog.Logger) {
	state.watch(ctx, log, func() {
		n := bst.EnforceRevocation()
		log.Info("revocation list reloaded", "from", state.writer.Where(), "entries", len(state.list.Entries()), "sessions_ended", n)
	})
}
