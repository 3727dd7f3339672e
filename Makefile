# GeoHub build and test entry points. `make run` and `make test` are the two
# commands the README promises work on a fresh machine.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run build ui test peers bench bench-micro fuzz

## run: build and run the hub with its data in ./data and 20 simulated
## vehicles, for a first look (drop --demo for real devices only)
run: build
	./bin/geohub serve --demo 20

## build: build bin/geohub (with the web UI embedded) and bin/firmware-sim
build: ui
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/geohub ./cmd/geohub
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/firmware-sim ./cmd/firmware-sim

## ui: build the web dashboard into dashboard/web/dist for the Go build to
## embed (npm ci only when package-lock.json changed; rebuilt only when a
## source changed)
ui: dashboard/web/dist/index.html

UI_SOURCES := $(shell find dashboard/web/src -type f 2>/dev/null) \
	dashboard/web/index.html dashboard/web/build.mjs dashboard/web/tsconfig.json

dashboard/web/dist/index.html: dashboard/web/node_modules/.package-lock.json $(UI_SOURCES)
	cd dashboard/web && npm run build

# npm ci writes node_modules/.package-lock.json: newer than the lock file
# means node_modules is current.
dashboard/web/node_modules/.package-lock.json: dashboard/web/package-lock.json dashboard/web/package.json
	cd dashboard/web && npm ci --no-audit --no-fund --loglevel=error

## test: install the real peers the tests use, then run every test (race
## detector on); what tests keep (the dashboard's browser screenshot) lands
## in test-output/_artifacts
test: peers ui
	mkdir -p test-output
	GEOHUB_REQUIRE_PEERS=1 $(GO) test -race -count=1 -timeout 30m -artifacts -outputdir $(CURDIR)/test-output ./...

## peers: install slixmpp, @xmpp/client, ... (Debian packages and npm)
peers:
	./internal/peers/install.sh

## bench: start a hub on a temporary data folder, drive firmware-sim load against
## it and print logins/s, publishes/s with latencies, CPU and memory; see
## docs/benchmarks.md. BENCH_FLAGS=--compare adds Prosody and ejabberd (make peers);
## BENCH_FLAGS=--quick is a short run; firmware-sim bench --help lists the rest.
bench:
	$(GO) run ./cmd/firmware-sim bench $(BENCH_FLAGS)

## bench-micro: the hub's Go micro-benchmarks (routing, logins, idle session memory)
bench-micro:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./hub/

## fuzz: fuzz the stanza scanner for a minute
fuzz:
	$(GO) test ./hub/internal/wire -run '^$$' -fuzz FuzzScanner -fuzztime 60s
