# qrie's interface: make demo, make test, make bench, make build, make deploy, make invoke.
# Needs only Rust, Python 3 and Node; everything else is installed here on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Build output lives outside the clone so repeated runs on one machine start warm.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/qrie/target
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
FUNCTIONS := inventory-generator policy-scanner event-processor object-scanner
FN ?= inventory-generator
EVENT ?= events/$(FN)/all.json

.PHONY: help venv build-dev test test-rust test-infra lint demo invoke bench contract synth build deploy clean

help:
	@echo "make demo      run the whole pipeline against a local AWS (moto) and print the findings"
	@echo "make test      every test: Rust unit and integration (against moto), infra assertions"
	@echo "make bench     criterion benchmarks and the scripted end-to-end measurement"
	@echo "make invoke FN=<function> EVENT=<file>   run one function once (local AWS or AWS_ENDPOINT_URL)"
	@echo "make lint      cargo fmt --check and clippy -D warnings"
	@echo "make contract  regenerate shared/schema/contract.json from the code"
	@echo "make synth     synthesise the CDK stacks offline"
	@echo "make build     release arm64 Lambda artifacts (cargo-lambda)"
	@echo "make deploy    deploy the qrie stack (needs AWS credentials; see infra/README.md)"

$(VENV_STAMP): tests/moto/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/moto/requirements.txt
	touch $@

venv: $(VENV_STAMP)

build-dev:
	cargo build --bins

test: test-rust test-infra

# The harness starts its own moto server from .venv (tests/harness/lib.rs).
test-rust: $(VENV_STAMP)
	cargo test --workspace --all-targets

test-infra:
	cd infra && npm ci --no-audit --no-fund --loglevel=error && npm test

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

demo: $(VENV_STAMP) build-dev
	$(VENV)/bin/python scripts/demo.py

# Runs one function binary once through the Lambda Runtime API against AWS_ENDPOINT_URL (set it
# to a running local AWS, e.g. `.venv/bin/python tests/moto/server.py --port 5000`).
invoke: build-dev
	@test -n "$$AWS_ENDPOINT_URL" || echo "note: AWS_ENDPOINT_URL is not set: this talks to real AWS" >&2
	$(PYTHON) scripts/lambda_invoke.py $(CARGO_TARGET_DIR)/debug/$(FN) $(EVENT)

# The detectors bench compares with ripgrep (scripts/ensure_ripgrep.sh finds or installs it;
# without it the comparison is skipped with a note and the rest runs).
bench: $(VENV_STAMP) build-dev
	QRIE_RG="$$(scripts/ensure_ripgrep.sh || true)" cargo bench --workspace
	$(VENV)/bin/python scripts/bench_e2e.py
	$(VENV)/bin/python scripts/bench_account.py --scale 10000
	cargo test -p qrie-tests --test integration -- --ignored --nocapture events_per_second
	scripts/bench_object_scan.sh

contract:
	QRIE_BLESS=1 cargo test -p qrie --lib schema

synth:
	cd infra && npm ci --no-audit --no-fund --loglevel=error && CDK_DEFAULT_ACCOUNT=123456789012 CDK_DEFAULT_REGION=us-east-1 npx cdk synth --quiet

# Release builds for arm64 Lambda (provided.al2023); cargo-lambda comes from PyPI with zig.
# The release profile sets lto, codegen-units and panic itself (cargo-lambda would otherwise add
# lto = "thin", codegen-units = 1 and panic = "abort", which defeats lambda_runtime's panic catching).
build: $(VENV_STAMP)
	rustup target add aarch64-unknown-linux-gnu
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip \
		$(foreach f,$(FUNCTIONS),--bin $(f))
	@for f in $(FUNCTIONS); do ls -l $(CARGO_TARGET_DIR)/lambda/$$f/bootstrap.zip; done

# ACCOUNTS=111111111111,222222222222 (or ORG_ID=o-xxxx) may put CloudTrail events on qrie's bus.
deploy: build
	cd infra && npm ci --no-audit --no-fund --loglevel=error && npm run deploy -- \
		$(if $(ACCOUNTS),-c qrie:accounts=$(ACCOUNTS)) $(if $(ORG_ID),-c qrie:organizationId=$(ORG_ID))

clean:
	cargo clean
	rm -rf $(VENV) infra/node_modules infra/cdk.out
