#!/usr/bin/env bash
# Runs every fuzz target in the module (not e2e) for FUZZTIME each.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" as -fuzztime runs out, when no input failed
# (go.dev/issue/75804, fixed in Go 1.27): its shutdown races the deadline.
# Such a run is told apart from a real failure by what it printed: a real
# one names the input it wrote to testdata/fuzz. That target is run again,
# at most twice; any other failure, or a third race, fails at once.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# coordinator_race says whether the failed run in $log is that race: its
# only failure message is the deadline, and it wrote no input.
coordinator_race() {
  grep -q '^    context deadline exceeded$' "$log" &&
    ! grep -q 'Failing input written to' "$log" &&
    ! grep '^    ' "$log" | grep -qv '^    context deadline exceeded$'
}

for pkg in $($GO list ./... | grep -v /e2e); do
  # Listed apart, so that a package that does not build fails here
  # instead of being passed over as one with no fuzz targets.
  targets=$($GO test -list '^Fuzz' "$pkg")
  for f in $(grep '^Fuzz' <<<"$targets" || true); do
    for try in 1 2 3; do
      echo "== $pkg $f"
      if $GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$log"; then
        break
      fi
      if [ "$try" = 3 ] || ! coordinator_race; then
        echo "fuzz: $pkg $f failed" >&2
        exit 1
      fi
      echo "fuzz: $f ended with Go's fuzz coordinator race at -fuzztime (go.dev/issue/75804), no input failed; running it again"
    done
  done
done
