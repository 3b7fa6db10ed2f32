package pgsession

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestLineagePool: sessions of one database and role share one lineage
// connection; the last to let go closes it, and nothing is left running.
func TestLineagePool(t *testing.T) {
	cfg, err := pgconn.ParseConfig("postgres://u@127.0.0.1:1/db?connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	var pool lineagePool
	ctx := context.Background()
	a := pool.acquire(ctx, "orders\x00db\x00u", cfg)
	b := pool.acquire(ctx, "orders\x00db\x00u", cfg)
	other := pool.acquire(ctx, "orders\x00db2\x00u", cfg)
	if a != b || a == other || pool.size() != 2 {
		t.Fatalf("shared %v, apart %v, size %d", a == b, a != other, pool.size())
	}
	if err := a.do(ctx, func(*pgconn.PgConn) error { return nil }); err == nil {
		t.Fatal("a refused connection was used")
	}
	pool.release(a)
	if pool.size() != 2 {
		t.Fatal("released while another session holds it")
	}
	pool.release(b)
	pool.release(other)
	if pool.size() != 0 {
		t.Fatalf("%d connections left", pool.size())
	}
}
