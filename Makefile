# Two entry points: `make demo` and `make test`. Everything else is a helper target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SITE_DIR := build/site
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test setup system-deps test-assets site serve-site lint typecheck pytest clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

setup: $(VENV)/.installed

# Debian packages the tests need: chromium for the browser tests (never a downloaded
# browser), postgresql for the booking tests, npm for axe-core (test-assets).
system-deps:
	@missing=; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi 'noto.*cjk' || missing="$$missing fonts-noto-cjk"; \
	command -v pg_ctlcluster >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "Installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    $$missing >/dev/null; \
	fi

# axe-core for the accessibility browser tests, from the npm registry into build/ (never a
# CDN); tests/browser.py injects it into pages. Pinned: a new rule set is a reviewed change.
AXE_VERSION := 4.14.1
AXE := build/node/node_modules/axe-core/axe.min.js

$(AXE):
	mkdir -p build/node
	npm install --prefix build/node --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION)
	test -s $@

test-assets: system-deps $(AXE)

site: setup
	$(BIN)/mkdocs build --strict --quiet --site-dir $(SITE_DIR)

serve-site: site
	@echo "Guide: http://$(HOST):$(PORT)/"
	$(PY) -m http.server --bind $(HOST) --directory $(SITE_DIR) $(PORT)

# The guide, the booking API and the staff pages on one origin, with fresh demo data.
demo: site
	$(BIN)/onetrip serve --demo --host $(HOST) --port $(PORT) --site-dir $(SITE_DIR)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy routing site/guide scheduler benchmarks

# Booking tests also run against a throwaway PostgreSQL on loopback (started and stopped here).
pytest: setup system-deps test-assets
	tests/scheduler/with_postgres.sh $(BIN)/pytest

test: lint typecheck pytest

clean:
	rm -rf build $(VENV)
