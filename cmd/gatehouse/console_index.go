package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
)

// openConsoleIndex opens the console's index of store in
// console.index_dir, made anew when it is missing, damaged, of another
// schema, store or keys.
func openConsoleIndex(cfg *policy.Config, store recorder.SummarySource, keys *recorder.Keyring) (*consoleindex.Index, error) {
	x, err := consoleindex.OpenKeyring(cfg.Path(cfg.Console.IndexDir), store, storeName(cfg, store), keys)
	if err != nil {
		return nil, fmt.Errorf("console: open the index (console.index_dir): %w", err)
	}
	x.MaxAge = cfg.Console.IndexMaxAge.D()
	return x, nil
}

// storeName names the store an index is made of: an index of another
// directory or bucket is rebuilt.
func storeName(cfg *policy.Config, store recorder.SummarySource) string {
	if fs, ok := store.(recorder.FileStore); ok {
		abs, err := filepath.Abs(fs.Dir)
		if err != nil {
			abs = fs.Dir
		}
		return "file:" + abs
	}
	return "s3:" + cfg.Recording.S3.Endpoint + "/" + cfg.Recording.S3.Bucket
}

// keepIndexed syncs x every console.index_interval until ctx ends, then
// closes it; done is closed once it has.
func keepIndexed(ctx context.Context, cfg *policy.Config, x *consoleindex.Index) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		x.Run(ctx, cfg.Console.IndexInterval.D(), slog.Default())
		if err := x.Close(); err != nil {
			slog.Warn("console: closing the index failed", "error", err)
		}
	}()
	return done
}

// runConsoleReindex is `gatehouse console reindex`: the index made anew
// from every recording of the store, as the console would on finding it
// missing.
func runConsoleReindex(ctx context.Context, args []string, out io.Writer) error {
	cfg, store, keys, err := consoleSource("console reindex", args, out)
	if err != nil {
		return err
	}
	x, err := openConsoleIndex(cfg, store, keys)
	if err != nil {
		return err
	}
	began := time.Now()
	p, err := rebuild(ctx, x)
	if err = errors.Join(err, x.Close()); err != nil {
		return fmt.Errorf("console reindex: %w", err)
	}
	fmt.Fprintf(out, "indexed %d sessions of %d listed in %s: %s\n", p.Indexed, p.Listed, time.Since(began).Round(time.Millisecond), x.Path())
	return nil
}

func rebuild(ctx context.Context, x *consoleindex.Index) (consoleindex.Progress, error) {
	if err := x.Rebuild(); err != nil {
		return consoleindex.Progress{}, err
	}
	return x.Sync(ctx)
}
