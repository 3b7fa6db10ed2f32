package main

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
)

func parseOptionalDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return policy.ParseDuration(s)
}

func formatUnix(sec uint64) string {
	return time.Unix(int64(sec), 0).UTC().Format(time.RFC3339)
}
