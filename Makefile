# Meshplane's one task runner. CI calls `make test` (see .ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
STACK := e2e/stack

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: demo
demo: build ## Run the main job: helm install of the platform and the Meshplane story on the local stack
	@e2e/demo.sh

.PHONY: build
build: ## Build the meshplane binary
	$(CARGO) build --release -p meshplane

# The same image as the Dockerfile, assembled without a Docker daemon and imported into
# the local node's containerd (the stack must be up). Users with Docker: see README.
.PHONY: image
image: build stack-up ## Build the meshplane image and import it into the local node
	@bash $(STACK)/images.sh meshplane

.PHONY: test
test: lint crds-check unit e2e ## Run every test: lint, CRD drift, unit, and e2e against the local stack

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: unit
unit: ## Unit, fixture and property tests of every crate
	$(CARGO) test --workspace

.PHONY: crds
# The release binary, which `make e2e` and `make demo` build anyway: a debug build of the
# binary alone would compile every dependency once more (without the tests' features).
crds: ## Regenerate crds/ (and the chart's copy) from the Rust types
	$(CARGO) run --release -q -p meshplane -- crds > crds/meshplane.dev_crds.yaml
	cp crds/meshplane.dev_crds.yaml charts/meshplane/crds/meshplane.dev_crds.yaml

.PHONY: crds-check
crds-check: ## Fail when crds/ drifts from the Rust types
	@$(CARGO) run --release -q -p meshplane -- crds | diff -u crds/meshplane.dev_crds.yaml - \
	  || { echo "crds/ is out of date: run 'make crds' and commit the result"; exit 1; }
	@diff -u crds/meshplane.dev_crds.yaml charts/meshplane/crds/meshplane.dev_crds.yaml \
	  || { echo "charts/meshplane/crds is out of date: run 'make crds' and commit the result"; exit 1; }

.PHONY: bench-governance
bench-governance: ## Criterion: governance decisions per second (50 fields x 5 policies)
	$(CARGO) bench -p meshplane-governance --bench decisions

.PHONY: bench-controller
bench-controller: stack-up ## Apply-to-Ready (worker pod available) p50/p99 for 1 and 100 products; CPU/RSS of every component
	@bash e2e/bench/controller.sh

.PHONY: bench-ingest
bench-ingest: stack-up ## Ingestion events/s per core and event-to-commit latency (real Kafka, S3, Iceberg catalog)
	$(CARGO) build --release -p meshplane
	@set -a; source .stack/env; set +a; "$$(e2e/python.sh)/bin/python" e2e/bench/ingest.py

.PHONY: bench-query
bench-query: stack-up ## Query port vs DuckDB and Trino on a 10M-row Orders table: p50/p99, the port's own overhead
	$(CARGO) build --release -p meshplane
	@set -a; source .stack/env; set +a; "$$(e2e/python.sh)/bin/python" e2e/bench/query.py $(BENCH_QUERY_ARGS)

.PHONY: bench-scrape
bench-scrape: stack-up ## Scrape cost per worker (series, bytes) with 100 products, through the cluster's Prometheus
	$(CARGO) build --release -p meshplane
	@bash e2e/stack/images.sh meshplane
	@set -a; source .stack/env; set +a; "$$(e2e/python.sh)/bin/python" e2e/bench/scrape.py

.PHONY: bench-catalog
bench-catalog: ## Catalog search and impact-analysis latency p50/p99 with 10,000 products
	$(CARGO) bench -p meshplane-catalog --bench queries

FUZZ_SECONDS ?= 120
.PHONY: fuzz-ingest
fuzz-ingest: ## Coverage-guided fuzzing of decode + mask (nightly toolchain; installs cargo-fuzz once)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@mkdir -p fuzz/corpus/decode_mask
	$(CARGO) +nightly fuzz run decode_mask fuzz/corpus/decode_mask fuzz/seeds/decode_mask -- -max_total_time=$(FUZZ_SECONDS)

.PHONY: bench-admission
bench-admission: stack-up ## Webhook latency at 500 req/s and its cost on a kubectl create (local stack)
	@bash e2e/bench/admission.sh

.PHONY: stack-up
stack-up: ## Build (cached) and start the local stack: control plane, a node that runs pods, Kafka, SeaweedFS
	@bash $(STACK)/up.sh

.PHONY: stack-down
stack-down: ## Stop the local stack; fails if any of its processes is left
	@bash $(STACK)/down.sh

.PHONY: stack-status
stack-status: ## Show which components of the local stack run, and their logs
	@bash $(STACK)/status.sh

.PHONY: stack-clean
stack-clean: stack-down ## Stop the stack and delete its state (.stack/)
	rm -rf .stack

# Runs the e2e suite against the local stack, then stops the stack (KEEP_STACK=1 keeps it).
# The S3 effects test is selected from the whole workspace so it reuses `make unit`'s build
# (`-p meshplane-effects` alone resolves other features and rebuilds its dependencies).
.PHONY: e2e
e2e: stack-up ## End-to-end tests through kubectl, helm, a Kafka client and an S3 client
	$(CARGO) build --release -p meshplane
	@bash $(STACK)/images.sh meshplane
	@# A platform left installed by `make demo` would reconcile the tests' products too.
	@bash $(STACK)/platform.sh uninstall
	@set -a; source .stack/env; set +a; status=0; \
	  $(CARGO) test --workspace --test s3_against_the_stack -- --include-ignored || status=$$?; \
	  "$$(e2e/python.sh)/bin/pytest" -q e2e/tests || status=$$?; \
	  if [[ -z "$(KEEP_STACK)" ]]; then bash $(STACK)/down.sh || status=1; fi; \
	  exit $$status
