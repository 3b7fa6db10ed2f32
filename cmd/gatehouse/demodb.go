package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse/internal/pgrun"
	"github.com/jackc/pgx/v5"
)

// demoDB is the throwaway PostgreSQL `gatehouse dev` starts as target "demo".
type demoDB struct {
	srv          *pgrun.Server
	port         int
	password     string // of demo_ro
	passwordFile string
}

func startDemoDB(ctx context.Context, enabled bool, dataDir string, out io.Writer) (*demoDB, error) {
	if !enabled {
		return nil, nil
	}
	// A temp dir, not data_dir: as root, postgres runs as the postgres
	// user, which cannot enter the 0700 data_dir.
	pgDir, err := os.MkdirTemp("", "gatehouse-dev-pg-")
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	port := 0
	if pgrun.PortFree(5432) {
		port = 5432
	}
	srv, err := pgrun.Start(ctx, pgDir, port)
	if errors.Is(err, pgrun.ErrNotInstalled) {
		os.RemoveAll(pgDir)
		fmt.Fprintf(out, "gatehouse dev: no demo database: %v\n", err)
		return nil, nil
	}
	if err != nil {
		os.RemoveAll(pgDir)
		return nil, fmt.Errorf("dev: demo database: %w", err)
	}
	d := &demoDB{srv: srv, port: srv.Port, password: randomToken(12), passwordFile: filepath.Join(dataDir, "demo_ro_password")}
	if err := os.WriteFile(d.passwordFile, []byte(d.password+"\n"), 0o600); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("dev: %w", err)
	}
	if err := seedDemo(ctx, srv, d.password); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("dev: seed the demo database: %w", err)
	}
	return d, nil
}

func (d *demoDB) stop(out io.Writer) {
	if err := d.srv.Stop(); err != nil {
		fmt.Fprintf(out, "gatehouse dev: stopping the demo database: %v\n", err)
	}
}

func seedDemo(ctx context.Context, srv *pgrun.Server, roPassword string) error {
	admin := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%%s?sslmode=disable", srv.Password, srv.Port)
	conn, err := pgx.Connect(ctx, fmt.Sprintf(admin, "postgres"))
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE demo")
	if err == nil {
		// Passwords cannot be bind parameters in CREATE ROLE; the token is hex.
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE ROLE demo_ro LOGIN PASSWORD '%s'", roPassword))
	}
	conn.Close(ctx)
	if err != nil {
		return err
	}
	conn, err = pgx.Connect(ctx, fmt.Sprintf(admin, "demo"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, demoSchema)
	return err
}

const demoSchema = `
CREATE TABLE customers (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL UNIQUE,
  phone       text,
  card_number text,
  ssn         text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (name, email, phone, card_number, ssn) VALUES
  ('Ada Lovelace',     'ada@example.com',     '+44 20 7946 0001', '4242424242424242', '900-12-3456'),
  ('Grace Hopper',     'grace@example.com',   '+1 202 555 0102',  '5555555555554444', '900-23-4567'),
  ('Alan Turing',      'alan@example.com',    '+44 20 7946 0003', '378282246310005',  '900-34-5678'),
  ('Katherine Johnson','katherine@example.com','+1 757 555 0104', '6011111111111117', '900-45-6789'),
  ('Edsger Dijkstra',  'edsger@example.com',  '+31 20 555 0105',  '4000056655665556', '900-56-7890'),
  ('Barbara Liskov',   'barbara@example.com', '+1 617 555 0106',  '5200828282828210', '900-67-8901'),
  ('Donald Knuth',     'donald@example.com',  '+1 650 555 0107',  '4012888888881881', '900-78-9012'),
  ('Margaret Hamilton','margaret@example.com','+1 617 555 0108',  '4111111111111111', '900-89-0123');
CREATE TABLE orders (
  id          serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  total_cents int NOT NULL,
  placed_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO orders (customer_id, total_cents) SELECT 1 + (i % 8), 100 * i FROM generate_series(1, 40) AS i;
GRANT USAGE ON SCHEMA public TO demo_ro;
GRANT SELECT ON customers, orders TO demo_ro;
`

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}
