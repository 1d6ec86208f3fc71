# Linux/CI convenience. On Windows and macOS use the pip route in the README (no make needed).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

PEERS_STAMP := $(VENV)/.peers-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install peers run test test-quick bench clean

$(STAMP): pyproject.toml Makefile
	$(PY) bridge/sysdeps.py install
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel "setuptools<81"
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,songbook,ui,text]"
	$(BIN)/python -m pip install -q --no-deps basic-pitch demucs==4.1.0
	$(BIN)/python -m pip install -q einops julius tqdm pyyaml
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Benchmark-only peers (Chordino, madmom, essentia, librosa). Best effort: a peer that will not install is
# reported by the benchmark as missing, and the rest of Bandmate does not need any of them.
$(PEERS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q wheel numpy "setuptools<81"
	$(BIN)/python -m pip install -q vamp==1.1.0 --no-build-isolation || echo "peers: vamp did not install"
	$(BIN)/python -m pip install -q -e ".[peers]" || echo "peers: some benchmark peers did not install"
	rm -f $(VENV)/.peers-*
	touch $(PEERS_STAMP)

peers: $(PEERS_STAMP)

run: install
	$(BIN)/bandmate serve

test: install peers
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-quick: install
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: install
	$(BIN)/bandmate bench transport

clean:
	rm -rf $(VENV) build *.egg-info
