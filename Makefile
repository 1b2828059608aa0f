# Twill: the README's two commands are `make lab` and `make test`. Both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_TEST := node --import tsx --test
export NODE_EXTRA_CA_CERTS :=

.PHONY: help deps build lint typecheck test test-unit test-e2e lab lab-down bench image images clean

help:
	@echo "make lab    bring up the lab and show it working"
	@echo "make test   install, build, lint, type-check and run every test"
	@echo "make bench  run the benchmarks (JSON on stdout)"
	@echo "make image  build Twill's container image as an OCI archive (images: + pause, agnhost)"

deps:
	@./scripts/setup.sh

build: deps
	@node scripts/build.mjs

lint: deps
	@echo "[lint] eslint" && npx --no-install eslint --max-warnings=0 .

typecheck: deps
	@echo "[typecheck] tsc" && npx --no-install tsc --noEmit -p .

test-unit: build
	@node scripts/run-tests.mjs unit

test-e2e: build
	@node scripts/run-tests.mjs kernel

test: build lint typecheck
	@node scripts/run-tests.mjs all

lab: build
	@./bin/twill lab demo

lab-down:
	@./bin/twill lab down --all

bench: build
	@npm run --silent bench

# Container images as OCI archives (no Docker daemon): see scripts/images/build.sh.
image: build
	@./scripts/images/build.sh twill

images: build
	@./scripts/images/build.sh pause agnhost twill

clean:
	rm -rf dist
