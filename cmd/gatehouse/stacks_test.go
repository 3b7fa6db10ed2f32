package main

import (
	"slices"
	"testing"
)

func TestSmallStacksEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    []string
		changed bool
	}{
		{"no GODEBUG", []string{"PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=adaptivestackstart=0"}, true},
		{"other settings kept", []string{"GODEBUG=schedtrace=5000", "HOME=/root"}, []string{"HOME=/root", "GODEBUG=schedtrace=5000,adaptivestackstart=0"}, true},
		{"an operator's choice kept", []string{"GODEBUG=adaptivestackstart=1"}, []string{"GODEBUG=adaptivestackstart=1"}, false},
		{"already set: no second exec", []string{"GODEBUG=x=1,adaptivestackstart=0"}, []string{"GODEBUG=x=1,adaptivestackstart=0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := smallStacksEnv(tc.environ)
			if changed != tc.changed || !slices.Equal(got, tc.want) {
				t.Fatalf("smallStacksEnv(%q) = %q, %v; want %q, %v", tc.environ, got, changed, tc.want, tc.changed)
			}
		})
	}
}
