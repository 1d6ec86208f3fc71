# Linux/CI convenience. On Windows and macOS use the pip route in the README (no make needed).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install run test test-quick bench clean

$(STAMP): pyproject.toml Makefile
	$(PY) bridge/sysdeps.py install
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel "setuptools<81"
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,songbook]"
	$(BIN)/python -m pip install -q --no-deps basic-pitch
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/bandmate serve

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-quick: install
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: install
	$(BIN)/bandmate bench transport

clean:
	rm -rf $(VENV) build *.egg-info
