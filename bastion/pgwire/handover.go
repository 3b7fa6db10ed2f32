package pgwire

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// upstreamInputs remembers what each Frontend pgconn builds reads from,
// so that the relay can read the hijacked connection through the same
// reader: pgconn's background reader, which may still hold bytes it read
// ahead of its Frontend (it hands them out first, then reads the
// connection itself), and not the net.Conn beneath it.
type upstreamInputs struct {
	build pgconn.BuildFrontendFunc // nil: pgproto3.NewFrontend

	mu     sync.Mutex
	inputs map[*pgproto3.Frontend]io.Reader // one per connection attempt
}

func (u *upstreamInputs) buildFrontend(r io.Reader, w io.Writer) *pgproto3.Frontend {
	build := u.build
	if build == nil {
		build = pgproto3.NewFrontend
	}
	f := build(r, w)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.inputs == nil {
		u.inputs = make(map[*pgproto3.Frontend]io.Reader, 1)
	}
	u.inputs[f] = r
	return f
}

// takeOver returns the reader of hc's Frontend, which must hold no bytes
// (pgconn's SyncConn drained it: any it held would be lost), and lets go
// of the Frontend and its 8 KiB read buffer, which the relay does not use.
func (u *upstreamInputs) takeOver(hc *pgconn.HijackedConn) (io.Reader, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	in, ok := u.inputs[hc.Frontend]
	u.inputs = nil
	hc.Config.BuildFrontend = u.build
	switch {
	case !ok:
		return nil, errors.New("pgwire: the hijacked connection's reader is unknown")
	case hc.Frontend.ReadBufferLen() != 0:
		return nil, fmt.Errorf("pgwire: the hijacked connection holds %d unread bytes", hc.Frontend.ReadBufferLen())
	}
	hc.Frontend = nil
	return in, nil
}
