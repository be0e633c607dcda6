# Switchboard: the two commands a newcomer needs are `make run` and `make test`
# (README). Nothing here needs anything but Go; CI adds services via .ci/run.
GO ?= go
PKGS := ./...

.PHONY: run build test vet fmt-check bench fuzz clean

run:
	$(GO) run ./cmd/switchboard serve --demo

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/switchboard ./cmd/switchboard

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# The whole suite: formatting, vet, every test with the race detector, and a
# static build (the binary must not need cgo).
test: fmt-check vet
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/switchboard
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

# Benchmarks whose figures BENCHMARKS.md records.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/store/sqlstore/ ./internal/bus/
	$(GO) test -run '^$$' -bench DeliverVisitorToAgent -benchtime 20000x ./internal/server/

# A short fuzzing session of the frame decoder (the seed corpus runs in `make test`).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeClientFrame -fuzztime 60s ./internal/protocol/

clean:
	rm -rf bin
