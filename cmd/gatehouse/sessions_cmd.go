package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

func runSessions(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("sessions", out)
	path := configFlag(fs)
	identity := fs.String("identity", "", "only sessions whose identity contains this text")
	refused := fs.Bool("refused", false, "only sessions with refusals")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfigFlag(*path, "sessions")
	if err != nil {
		return err
	}
	store := recorder.FileStore{Dir: cfg.Path(cfg.Recording.Dir)}
	ids, err := store.List(recorder.KindSession)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tSTART\tDURATION\tIDENTITY\tTARGETS\tCHANNELS\tREFUSALS\tEND\tCHAIN")
	for _, id := range ids {
		lines, err := store.Lines(recorder.KindSession, id)
		if err != nil {
			return err
		}
		s := recorder.Summarize(id, lines)
		if *identity != "" && !strings.Contains(s.Identity, *identity) || *refused && s.Refusals == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.ID, s.Start.Local().Format(time.DateTime),
			duration(s), orDash(s.Identity), orDash(strings.Join(s.Targets, ",")), s.Channels, s.Refusals,
			orDash(s.EndReason), chainState(s.ChainError))
	}
	return tw.Flush()
}

func duration(s recorder.Summary) string {
	if s.End.IsZero() {
		return "open"
	}
	return s.End.Sub(s.Start).Round(time.Millisecond).String()
}

func chainState(err error) string {
	if err != nil {
		return "BROKEN: " + err.Error()
	}
	return "intact"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
