package pgstate

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/ca"
)

// Issued is the certificates the CA issued, on every replica: ca.IssuedLog
// (issuance adds to it) and ca.IssuedRecord (revocation reads it).
type Issued struct{ s *Store }

var (
	_ ca.IssuedLog    = (*Issued)(nil)
	_ ca.IssuedRecord = (*Issued)(nil)
)

// issuedHistory is how long a certificate stays after its expiry: what
// revocation looks for is still valid, and a little history helps the
// operator reading the table.
const issuedHistory = 30 * 24 * time.Hour

// Add keeps e, and drops the certificates expired for longer than
// issuedHistory.
func (x *Issued) Add(e ca.IssuedEvent) error {
	_, err := x.add(e, true)
	return err
}

// Import keeps e unless its serial is kept already, and reports whether
// it was added (`gatehouse state import`).
func (x *Issued) Import(e ca.IssuedEvent) (bool, error) { return x.add(e, false) }

func (x *Issued) add(e ca.IssuedEvent, prune bool) (bool, error) {
	doc, err := json.Marshal(e)
	if err != nil {
		return false, fmt.Errorf("pgstate: encode issuance of serial %d: %w", e.Serial, err)
	}
	ctx, cancel := x.s.op()
	defer cancel()
	b := &pgx.Batch{}
	added := b.Queue(`INSERT INTO gatehouse_issued_certificates (serial, key_id, valid_before, event)
		VALUES ($1, $2, $3, $4) ON CONFLICT (serial) DO NOTHING`, int64(e.Serial), e.KeyID, e.ValidBefore, doc)
	var n int64
	added.Exec(func(tag pgconn.CommandTag) error { n = tag.RowsAffected(); return nil })
	if prune {
		b.Queue(`DELETE FROM gatehouse_issued_certificates WHERE valid_before < $1`, time.Now().Add(-issuedHistory))
	}
	if err := x.s.pool.SendBatch(ctx, b).Close(); err != nil {
		return false, x.s.dbError("issued", fmt.Sprintf("keep issuance of serial %d", e.Serial), err)
	}
	return n == 1, nil
}

// All returns every certificate kept.
func (x *Issued) All() ([]ca.IssuedEvent, error) {
	ctx, cancel := x.s.op()
	defer cancel()
	return queryJSON[ca.IssuedEvent](ctx, x.s, "issued", "read issued certificates",
		`SELECT event FROM gatehouse_issued_certificates ORDER BY valid_before, serial`)
}
