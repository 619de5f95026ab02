# Meshplane's one task runner. CI calls `make test` (see .ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
STACK := e2e/stack

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: demo
demo: build ## Run the main job: the Meshplane story end to end
	@e2e/demo.sh

.PHONY: build
build: ## Build the meshplane binary
	$(CARGO) build --release -p meshplane

.PHONY: test
test: lint crds-check unit ## Run every test (lint, CRD drift, unit/handler tests)

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: unit
unit: ## Unit, fixture and property tests of every crate
	$(CARGO) test --workspace

.PHONY: crds
crds: ## Regenerate crds/ (and the chart's copy) from the Rust types
	$(CARGO) run -q -p meshplane -- crds > crds/meshplane.dev_crds.yaml
	cp crds/meshplane.dev_crds.yaml charts/meshplane/crds/meshplane.dev_crds.yaml

.PHONY: crds-check
crds-check: ## Fail when crds/ drifts from the Rust types
	@$(CARGO) run -q -p meshplane -- crds | diff -u crds/meshplane.dev_crds.yaml - \
	  || { echo "crds/ is out of date: run 'make crds' and commit the result"; exit 1; }
	@diff -u crds/meshplane.dev_crds.yaml charts/meshplane/crds/meshplane.dev_crds.yaml \
	  || { echo "charts/meshplane/crds is out of date: run 'make crds' and commit the result"; exit 1; }

.PHONY: bench-governance
bench-governance: ## Criterion: governance decisions per second (50 fields x 5 policies)
	$(CARGO) bench -p meshplane-governance --bench decisions
