# gatehouse: the two commands a newcomer needs are `make run` and `make test`.
GO       ?= go
BIN      := bin/gatehouse
# cgo stays on: the PostgreSQL parser (pg_query_go) needs it.
export CGO_ENABLED := 1

.PHONY: run test test-deps build vet unit e2e fuzz bench clean

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
	$(GO) vet ./...
	test -z "$$(gofmt -l .)" || (gofmt -l . && echo "gofmt: files above need formatting" && exit 1)

unit:
	$(GO) test -race -count=1 -timeout 10m $$($(GO) list ./... | grep -v /e2e)

e2e:
	$(GO) test -count=1 -timeout 20m ./e2e/...

## fuzz: a short run of every fuzz target
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzVerifyChain -fuzztime 30s ./recorder/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./policy/
	$(GO) test -run '^$$' -fuzz FuzzClassify -fuzztime 30s ./policy/sqlclass/
	$(GO) test -run '^$$' -fuzz FuzzStartup -fuzztime 30s ./bastion/pgwire/
	$(GO) test -run '^$$' -fuzz FuzzClientMessages -fuzztime 30s ./bastion/pgwire/
	$(GO) test -run '^$$' -fuzz FuzzUpstreamMessages -fuzztime 30s ./bastion/pgwire/

clean:
	rm -rf bin
