# Switchboard: the two commands a newcomer needs are `make run` and `make test`
# (README). Nothing here needs anything but Go; CI adds services via .ci/run.
GO ?= go
PKGS := ./...

.PHONY: run build test vet fmt-check web-check bench fuzz clean

run:
	$(GO) run ./cmd/switchboard serve --demo

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/switchboard ./cmd/switchboard

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Each web package (web/*/package.json) defines `npm run check`: type-check,
# lint, rebuild, size budgets, and a failure when the committed dist/ is stale.
web-check:
	@for d in web/*/; do \
	  if [ -f "$$d/package.json" ]; then \
	    echo "== $$d"; (cd "$$d" && npm ci --no-audit --no-fund --loglevel=error && npm run check) || exit 1; \
	  fi; \
	done

# The whole suite: formatting, vet, the web packages, every Go test with the
# race detector (browser tests included), and a static build (no cgo).
test: fmt-check vet web-check
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/switchboard
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

# Benchmarks whose figures BENCHMARKS.md records.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/store/sqlstore/ ./internal/bus/
	$(GO) test -run '^$$' -bench DeliverVisitorToAgent -benchtime 20000x ./internal/server/

# Short fuzzing sessions of the frame decoders (the seed corpora run in `make test`).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeClientFrame -fuzztime 60s ./internal/protocol/
	$(GO) test -run '^$$' -fuzz FuzzDecodeSend -fuzztime 60s ./internal/protocol/

clean:
	rm -rf bin
