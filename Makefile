# gelu-edge: two commands set everything up from a fresh clone.
#   make build   install into .venv (if needed) and run `gelu-edge build --quantize int8`
#   make test    install into .venv and the Debian packages the tests need (if needed), run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= build

.PHONY: install system-deps build test bench clean distclean
.DEFAULT_GOAL := build

install: $(STAMP)

# Reinstalled only when pyproject.toml changes; the stamp is written last, so an interrupted
# install is redone on the next run.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e '.[test,vela,hub]'
	touch $@

build: install
	$(BIN)/gelu-edge build --quantize int8 --out $(OUT)

# Debian packages the emulated-Pi and SSH tests need (qemu-user-static, openssh-server);
# installs only what is missing.
system-deps:
	bash scripts/system-deps.sh

test: install system-deps
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/build_overhead.py
	$(BIN)/python benchmarks/approx_latency.py

clean:
	rm -rf $(OUT) .pytest_cache

distclean: clean
	rm -rf $(VENV) *.egg-info
