package pgstate

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's record of the applied migrations.
const versionTable = "gatehouse_schema_version"

// lockID is the advisory lock replicas take to migrate one at a time: a
// constant of gatehouse's own, so that another goose user of the same
// database (with goose's default lock) does not wait on it.
const lockID int64 = 0x6761746568737431 // "gatehst1"

// Migrate applies the migrations the database lacks, holding the
// advisory lock (a replica starting meanwhile waits, retrying every
// second for up to 5 minutes), and returns the versions it applied.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("pgstate: migration lock: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("pgstate: migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName(versionTable), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("pgstate: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, s.dbError("migrate", "apply migrations", err)
	}
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}
