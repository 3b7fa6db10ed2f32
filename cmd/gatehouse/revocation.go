package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion"
	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	gossh "golang.org/x/crypto/ssh"
)

// revocationPoll is how often serve looks at the revocation list: with
// the bastion's grace for ending a session, well inside the 5 seconds a
// revocation may take to end live sessions.
const revocationPoll = time.Second

// openRevocations reads the revocation list `gatehouse revoke` writes.
func openRevocations(cfg *policy.Config) (*ca.RevocationList, error) {
	return ca.OpenRevocationList(cfg.Path(ca.RevocationFile))
}

// krlFunc serves the list at GET /v1/krl, resolving identity entries and
// revoked engineers' agents through the CA's record of its issuances.
func krlFunc(cfg *policy.Config, revs *ca.RevocationList, userCA gossh.PublicKey) ca.KRLFunc {
	index := &issuedIndex{store: recorder.FileStore{Dir: cfg.Path(cfg.Recording.Dir)}}
	return func(context.Context) ([]byte, error) {
		var issued []ca.IssuedEvent
		if len(revs.Entries()) > 0 {
			var err error
			if issued, err = index.all(); err != nil {
				return nil, err
			}
		}
		return revs.KRL(userCA, issued, time.Now())
	}
}

// issuedIndex remembers the cert.issued events of closed CA streams, which
// never change, so that GET /v1/krl reads again only the streams still
// being written.
type issuedIndex struct {
	store  recorder.FileStore
	mu     sync.Mutex
	closed map[string][]ca.IssuedEvent
}

func (x *issuedIndex) all() ([]ca.IssuedEvent, error) {
	ids, err := x.store.List(recorder.KindCA)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed == nil {
		x.closed = map[string][]ca.IssuedEvent{}
	}
	var out []ca.IssuedEvent
	for _, id := range ids {
		if evs, ok := x.closed[id]; ok {
			out = append(out, evs...)
			continue
		}
		// A manifest is written after the stream's last line: seen
		// before the lines are read, the lines are complete.
		_, merr := x.store.Manifest(recorder.KindCA, id)
		evs, err := issuedIn(x.store, id)
		if errors.Is(err, fs.ErrNotExist) {
			// Pruned from an S3 server's spool since List: CA streams
			// stay there at least ca.max_ttl after their upload, so
			// every certificate this one issued has expired.
			continue
		}
		if err != nil {
			return nil, err
		}
		if merr == nil {
			x.closed[id] = evs
		}
		out = append(out, evs...)
	}
	return out, nil
}

// watchRevocations reloads the list when it changes and ends the live
// sessions it now covers, until ctx ends.
func watchRevocations(ctx context.Context, revs *ca.RevocationList, bst *bastion.Server, log *slog.Logger) {
	revs.Watch(ctx, revocationPoll, log, func() {
		n := bst.EnforceRevocation()
		log.Info("revocation list reloaded", "path", revs.Path(), "entries", len(revs.Entries()), "sessions_ended", n)
	})
}
