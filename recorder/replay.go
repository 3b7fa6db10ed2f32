package recorder

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Replay writes a stream's events as a timeline, each after as long a
// pause as separated it from the one before (divided by Speed).
type Replay struct {
	// Speed divides the pauses; 0 means 1 (real time).
	Speed float64
	// Wait pauses for d, or until ctx ends. If nil, it waits in real
	// time; `--no-wait` gives one that returns at once.
	Wait func(ctx context.Context, d time.Duration) error
}

// Run writes events to w, one line each: the offset from the first event,
// the type, and the event in words (Describe), all Printable.
func (r Replay) Run(ctx context.Context, w io.Writer, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	first, last := events[0].Time, events[0].Time
	for _, ev := range events {
		if err := r.wait(ctx, ev.Time.Sub(last)); err != nil {
			return err
		}
		if ev.Time.After(last) {
			last = ev.Time
		}
		if _, err := fmt.Fprintf(w, "%s  %-15s  %s\n", offset(ev.Time.Sub(first)), Printable(string(ev.Type)), Describe(ev)); err != nil {
			return err
		}
	}
	return nil
}

func (r Replay) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if r.Speed > 0 {
		d = time.Duration(float64(d) / r.Speed)
	}
	if r.Wait != nil {
		return r.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// offset formats d as +HH:MM:SS.mmm.
func offset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	ms := d.Milliseconds()
	return fmt.Sprintf("%s%02d:%02d:%02d.%03d", sign, ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}
