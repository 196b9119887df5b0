# chunky-audit: `make demo` runs the audit on the embedded default, `make test` runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# The CPU build of torch, pinned as a constraint for everything that depends on it (a bare
# torch requirement can pull a several-GB CUDA build), and the exact Bergson version.
TORCH := torch==2.13.0
BERGSON := bergson==2.5.1

.PHONY: setup test demo bench lint clean

setup: $(STAMP) $(CHROMIUM)

# Debian's headless Chromium for the report's browser tests (Playwright drives it).
$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver

# Reinstalled when pyproject.toml (dependencies, extras) or this recipe changes. The `ray`
# extra is installed so the Ray tests (tests/test_ray_*.py) run instead of being skipped.
# Bergson requires torchvision and torchaudio but never imports them; PyPI's torchvision
# needs CUDA and breaks `import transformers` on a CPU machine, so both are removed.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	echo '$(TORCH)' > $(VENV)/constraints.txt
	$(BIN)/python -m pip install -q '$(TORCH)'
	$(BIN)/python -m pip install -q -c $(VENV)/constraints.txt '$(BERGSON)' -e '.[dev,ray]'
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio
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
