package ca

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
)

func TestDevTokensOneTime(t *testing.T) {
	dev := policy.Identity{Subject: "dev", Email: "dev@localhost", Issuer: "gatehouse-dev", Groups: []string{"engineering"}}
	var printed []string
	d := NewDevTokens(dev, func(tok string) { printed = append(printed, tok) })
	first := d.Current()
	if !strings.HasPrefix(first, "ghdev_") || len(first) < len("ghdev_")+20 {
		t.Fatalf("token %q", first)
	}
	if len(printed) != 0 {
		t.Errorf("onNew called for the first token")
	}
	ctx := context.Background()
	for _, bad := range []string{"", "ghdev_", "ghdev_nope", first + "x", strings.TrimPrefix(first, "ghdev_")} {
		if _, err := d.Verify(ctx, bad); errorCode(err) != caapi.CodeInvalidToken {
			t.Errorf("Verify(%q) = %v, want invalid_token", bad, err)
		}
	}
	if d.Current() != first {
		t.Error("a failed attempt rotated the token")
	}
	id, err := d.Verify(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "dev" || id.Email != "dev@localhost" || id.Issuer != "gatehouse-dev" || id.Groups[0] != "engineering" {
		t.Errorf("identity %+v", id)
	}
	id.Groups[0] = "mutated"
	if _, err := d.Verify(ctx, first); errorCode(err) != caapi.CodeInvalidToken {
		t.Errorf("token reused: %v", err)
	}
	second := d.Current()
	if second == first || len(printed) != 1 || printed[0] != second {
		t.Fatalf("after use: current %q, printed %v", second, printed)
	}
	id, err = d.Verify(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if id.Groups[0] != "engineering" {
		t.Error("a caller's change to the identity leaked into the next one")
	}
	if len(printed) != 2 || printed[1] != d.Current() {
		t.Errorf("printed %v, current %q", printed, d.Current())
	}
}

func TestDevTokensConcurrentUseOnce(t *testing.T) {
	var calls atomic.Int32
	var d *DevTokens
	d = NewDevTokens(policy.Identity{Subject: "dev", Issuer: "gatehouse-dev"}, func(tok string) {
		calls.Add(1)
		_ = d.Current() // onNew may call back without deadlock
	})
	tok := d.Current()
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := d.Verify(context.Background(), tok); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || calls.Load() != 1 {
		t.Errorf("%d successes and %d new tokens, want 1 and 1", ok.Load(), calls.Load())
	}
}
