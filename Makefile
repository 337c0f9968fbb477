# mailvault — see README.md. Targets: build test race lint fuzz bench gobench reliability demo.
GO       ?= go
BIN      := bin/mailvault
PKGS     := ./...
FUZZTIME ?= 5s
# Demo state lives outside the clone so that a second run starts clean.
DEMO     ?= $(or $(TMPDIR),/tmp)/mailvault-demo

.PHONY: install build test unit race lint fuzz bench bench-scale gobench reliability demo clean

build:
	$(GO) build -o $(BIN) ./cmd/mailvault

# The tests: unit and end-to-end (real Dovecot, real FUSE, real corpus),
# under the race detector, then every fuzz target for a short while.
test: lint fuzz race

unit:
	$(GO) test -timeout 20m $(PKGS)

race:
	$(GO) test -race -timeout 30m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to reformat:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@$(GO) mod tidy -diff >/dev/null 2>&1 || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }

# Each fuzz target for FUZZTIME (make fuzz FUZZTIME=10m for a long run).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# mailvault beside tar|zstd, restic and borg on a 100 000-message store
# (built once under BENCH_DIR), ROUNDS interleaved rounds, one table of
# medians and ratios; bench-scale: mailvault alone at growing store sizes;
# gobench: the Go benchmarks of the hot paths.
BENCH_SIZES ?= 100000
bench:
	./scripts/bench.sh $(BENCH_SIZES)

bench-scale:
	TOOLS=mailvault ROUNDS=1 ./scripts/bench.sh 10000 100000 400000

gobench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# The reliability suite at bench size (kills, damage, live writer, hostile
# input, mount load, access), then one table of what held; fails when
# anything was lost. Takes a while: run it before a release, not per change.
FIGURES  ?= $(or $(TMPDIR),/tmp)/mailvault-figures.jsonl
reliability:
	rm -f $(FIGURES)
	MAILVAULT_RELIABILITY=bench MAILVAULT_FIGURES=$(FIGURES) \
	  $(GO) test -timeout 120m -count=1 $(PKGS)
	$(GO) run ./internal/tools/figtable $(FIGURES)

# The binary, the systemd units and (when there is none) the example
# configuration; then: systemctl enable --now mailvault-backup@-.timer
PREFIX ?= /usr/local
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mailvault
	install -D -m 0644 dist/systemd/mailvault-backup@.service $(DESTDIR)/etc/systemd/system/mailvault-backup@.service
	install -D -m 0644 dist/systemd/mailvault-backup@.timer $(DESTDIR)/etc/systemd/system/mailvault-backup@.timer
	[ -e $(DESTDIR)/etc/mailvault/mailvault.toml ] || install -D -m 0600 dist/mailvault.toml $(DESTDIR)/etc/mailvault/mailvault.toml

demo: build
	./scripts/demo.sh "$(DEMO)"

clean:
	rm -rf bin
