# gatehouse: the two commands a newcomer needs are `make run` and `make test`.
GO       ?= go
BIN      := bin/gatehouse
# cgo stays on: the PostgreSQL parser (pg_query_go) needs it.
export CGO_ENABLED := 1
# bash for pipefail in unit and e2e.
SHELL    := /bin/bash
# Tests that need real servers (internal/testenv: PostgreSQL, MinIO, Dex) are
# built only with this tag; `go test ./...` alone runs the hermetic ones.
TESTTAGS := servers

.PHONY: run test test-deps build vet unit e2e compat fuzz bench bench-evidence clean

## run: start gatehouse dev (CA, bastion, dev login, demo PostgreSQL) on 127.0.0.1
run: build
	./$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/gatehouse

## test: install what the tests need, then run vet, unit tests (race) and e2e tests
test: test-deps vet unit e2e

test-deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet -tags $(TESTTAGS) ./...
	test -z "$$(gofmt -l .)" || (gofmt -l . && echo "gofmt: files above need formatting" && exit 1)

# unit and e2e: the JSON stream goes through scripts/testsummary, which shows
# failed tests' output, each package's result and every skipped test (a skip
# is not a pass).
unit:
	@echo "unit: -tags $(TESTTAGS); tests with real servers in:" $$(grep -rl --include='*_test.go' '^//go:build $(TESTTAGS)$$' . | grep -v '^./e2e/' | xargs -n1 dirname | sort -u)
	set -o pipefail; $(GO) test -race -count=1 -timeout 10m -tags $(TESTTAGS) -json $$($(GO) list -tags $(TESTTAGS) ./... | grep -v /e2e) | $(GO) run ./scripts/testsummary

e2e:
	set -o pipefail; $(GO) test -count=1 -timeout 30m -tags $(TESTTAGS) -json ./e2e/... | $(GO) run ./scripts/testsummary

## compat: pgx's and lib/pq's own test suites straight to PostgreSQL and through gatehouse;
## fails on a test that passes only directly unless compat/expected.txt lists it (docs/compatibility.md).
## Slow (about ten minutes), so not part of `make test`. The report is also in bin/compat/report.txt.
compat: test-deps build
	./scripts/compat-deps.sh
	GATEHOUSE_COMPAT=1 $(GO) test -count=1 -timeout 120m -tags $(TESTTAGS) -run '^TestCompat$$' -v ./e2e

## fuzz: every fuzz target in the module, FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## bench-evidence: one SOC 2 evidence bundle at volume (bench/evidence): writes signed recordings
## spread over EVIDENCE_DAYS days with bench/recgen, builds the bundle of the period as `gatehouse
## evidence` does, and reports its wall and CPU time, peak heap and RSS, size and rows
## (docs/benchmarks.md, "Evidence at volume"). Not in CI. Full scale: make bench-evidence
## EVIDENCE_SESSIONS=100000 EVIDENCE_STATEMENTS=10000000. The unit benchmark it replaces is still
## `go test -run '^$$' -bench BenchmarkBuild ./recorder/evidence`.
EVIDENCE_SESSIONS   ?= 10000
EVIDENCE_STATEMENTS ?= 1000000
EVIDENCE_DAYS       ?= 90
EVIDENCE_BENCH_DIR  ?= /tmp/gatehouse-evidence-bench
bench-evidence:
	$(GO) run ./bench/evidence -sessions $(EVIDENCE_SESSIONS) -statements $(EVIDENCE_STATEMENTS) -days $(EVIDENCE_DAYS) \
		-dir $(EVIDENCE_BENCH_DIR)-$(EVIDENCE_SESSIONS)

## bench: pgbench -S direct, through an OpenSSH tunnel and through gatehouse, side by side; then
## many agents (BENCH_AGENTS counts, each agent its own SSH connection and certificate) and
## BENCH_IDLE idle sessions through one gatehouse (docs/benchmarks.md). BENCH_SECONDS is each run's
## length. Quicker: make bench BENCH_AGENTS=1,4 BENCH_SECONDS=5 BENCH_IDLE=50. BENCHFLAGS passes
## options, e.g. BENCHFLAGS="-rounds 3 -profile /tmp/prof"; BENCH_AGENTS= BENCH_IDLE=0 leaves the new runs out.
BENCH_AGENTS  ?= 1,4,16,64
BENCH_SECONDS ?= 10
BENCH_IDLE    ?= 1000
bench: build
	$(GO) run ./bench -gatehouse $(BIN) -agents=$(BENCH_AGENTS) -duration=$(BENCH_SECONDS)s -idle-sessions=$(BENCH_IDLE) $(BENCHFLAGS)

## bench-console: the console's index at volume: writes signed recordings, builds the index, times
## the sessions list, a statement search and a session page (docs/benchmarks.md, "Console at
## volume"). Not in CI. Full scale: make bench-console CONSOLE_SESSIONS=100000 CONSOLE_STATEMENTS=10000000
CONSOLE_SESSIONS   ?= 10000
CONSOLE_STATEMENTS ?= 1000000
CONSOLE_BENCH_DIR  ?= /tmp/gatehouse-console-bench
.PHONY: bench-console
bench-console:
	$(GO) run ./bench/console -sessions $(CONSOLE_SESSIONS) -statements $(CONSOLE_STATEMENTS) -dir $(CONSOLE_BENCH_DIR)-$(CONSOLE_SESSIONS)

clean:
	rm -rf bin
