package masking_test

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/masking"
)

// TestNamesMatchPolicy keeps the names the configuration accepts equal to
// the ones this package implements (policy may not import masking).
func TestNamesMatchPolicy(t *testing.T) {
	var funcs []string
	for _, f := range masking.Funcs() {
		funcs = append(funcs, string(f))
	}
	var dets []string
	for _, d := range masking.Detectors() {
		dets = append(dets, string(d))
	}
	if !slices.Equal(sortedCopy(funcs), sortedCopy(policy.MaskFunctions)) {
		t.Errorf("masking.Funcs() = %v, policy.MaskFunctions = %v", funcs, policy.MaskFunctions)
	}
	if !slices.Equal(sortedCopy(dets), sortedCopy(policy.Detectors)) {
		t.Errorf("masking.Detectors() = %v, policy.Detectors = %v", dets, policy.Detectors)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
