package pgsession

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestLineageOpening: an opening that fails is taken as finished with no
// catalog (the statement connects again); one still connecting when the
// session ends is stopped by abandon at once, not after its timeout.
func TestLineageOpening(t *testing.T) {
	refused, err := pgconn.ParseConfig("postgres://u@127.0.0.1:1/db?connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	o := openLineage(context.Background(), refused)
	if cat, finished := o.take(context.Background()); !finished || cat != nil || o.err == nil {
		t.Fatalf("a refused connection: catalog %v, finished %v, err %v", cat, finished, o.err)
	}

	// A server that accepts and never answers: the opening waits.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	silent, err := pgconn.ParseConfig("postgres://u@" + ln.Addr().String() + "/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	o = openLineage(context.Background(), silent)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, finished := o.take(ctx); finished {
		t.Fatal("an opening to a silent server finished")
	}
	stopped := make(chan struct{})
	go func() { o.abandon(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(lineageTimeout / 2):
		t.Fatal("abandon waited for the connection attempt to time out")
	}
}
