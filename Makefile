# One entry point for developers and CI. Every target bootstraps what it needs.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(UV) run --frozen

.PHONY: demo demo-offline test check lint typecheck layers unit bench golden docs clean postgres web chromium

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

# Installing the project runs hatch_build.py, which generates the Hubble gRPC modules into
# $(GENERATED) (git-ignored). --reinstall-package rebuilds the project rather than reusing
# uv's cached build, whose modules may have been deleted since.
GENERATED := src/netwarden/flows/_generated/STAMP
PROTOS := $(wildcard src/netwarden/flows/proto/*/*.proto)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock hatch_build.py $(PROTOS) $(GENERATED)
	$(UV) sync --frozen --quiet --reinstall-package netwarden
	touch $@

$(GENERATED):
	@: made by the sync above

## demo: the main job so far: verdicts, a trace, connectivity, lint and dropped flows explained on the example cluster
demo: $(VENV)/.synced web
	$(RUN) netwarden demo

## demo-offline: the policy engine alone on the example shop cluster
demo-offline: $(VENV)/.synced
	$(RUN) netwarden verdict -f examples/demo --probes examples/demo-probes.yaml -o table
	$(RUN) netwarden explain -f examples/demo --from shop/frontend-0 --to shop/db-0 --port 5432 --protocol TCP
	$(RUN) netwarden matrix -f examples/demo --ports 8080/TCP,5432/TCP --namespaces shop,payments
	$(RUN) netwarden matrix -f examples/demo --ports all
	$(RUN) netwarden lint -f examples/demo --fail-on never
	$(RUN) netwarden flows --file examples/demo-flows.jsonl -p examples/demo --drops -o compact

## test: every check CI runs (lint, format, types, layers, tests)
test: check

check: lint typecheck layers unit

lint: $(VENV)/.synced
	$(RUN) ruff check src tests scripts
	$(RUN) ruff format --check src tests scripts

typecheck: $(VENV)/.synced
	$(RUN) mypy

layers: $(VENV)/.synced
	$(RUN) lint-imports

# The control plane's persistence tests run on SQLite and on the local PostgreSQL server.
postgres:
	@if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start 2>/dev/null || true; \
	fi

# The console's browser tests (tests/console) need the built console, its npm packages
# (playwright-core drives the browser) and Debian's Chromium; as root, installed if missing.
unit: $(VENV)/.synced postgres web chromium
	$(RUN) pytest -q

## web: the console (web/, React + Vite) built into web/dist, which the server serves at /;
## rebuilt only when its sources or packages changed (needs Node.js 20+ and npm, not at run time)
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json
WEB_MODULES := web/node_modules/.package-lock.json

$(WEB_MODULES): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web/dist/index.html: $(WEB_MODULES) $(WEB_SOURCES)
	cd web && npm run build --silent
	touch $@

web: web/dist/index.html

CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "Chromium is missing: run 'apt-get install -y chromium' as root" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; \
	fi

## bench: performance figures (compile, update, verdicts/s, vs network-config-analyzer)
bench: $(VENV)/.synced
	$(RUN) python -m tests.bench.run_bench

## golden: regenerate golden files after an intended change
golden: $(VENV)/.synced
	NETWARDEN_REGEN_GOLDEN=1 $(RUN) pytest -q tests/golden

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .pytest_cache .ruff_cache web/node_modules web/dist test-artifacts

## docs: regenerate docs/reference/cli.md and api.md from the CLI and the API
docs: $(VENV)/.synced
	$(RUN) python -m scripts.gen_cli_reference
	$(RUN) python -m scripts.gen_api_reference
	$(MAKE) $(WEB_MODULES)
	$(RUN) python -m scripts.gen_web_api
