# chunky-audit: `make demo` runs the audit on the embedded default, `make test` runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup test demo bench lint clean

setup: $(STAMP) $(CHROMIUM)

# Debian's headless Chromium for the report's browser tests (Playwright drives it).
$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver

# Reinstalled when pyproject.toml (dependencies, extras) or this recipe changes. The `ray`
# extra is installed so the Ray tests (tests/test_ray_*.py) run instead of being skipped.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/audit demo --out demo-out

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/scan.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) demo-out bench/.cache .pytest_cache
