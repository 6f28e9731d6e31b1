# Two commands on a fresh machine: `make book` and `make test`. Both set everything up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cocorr-installed
# torch first: the pinned pair installs from local wheels; a bare `torch` would download a CUDA build.
TORCH_PIN := $(if $(filter aarch64,$(shell uname -m)),torch==2.9.1 torchvision==0.24.1,torch==2.14.1 torchvision==0.29.1)
export COCORR_PROFILE ?= quick
BOOK_FLAGS := -n -W --keep-going

.PHONY: all setup data book lint test test-fast test-book browser pdf bench lab clean help

help:
	@echo "make book       set up, fetch MNIST, execute every notebook ($$COCORR_PROFILE, default quick), write _build/html"
	@echo "make test       set up, fetch MNIST, run the test suite (notebooks included; browser test if a book is built)"
	@echo "make test-fast  unit tests only (no notebooks)"
	@echo "make lint       ruff (rules E, F, I, UP) over the package, the tests and the benchmarks"
	@echo "make test-book  browser test of the built book in headless Chromium"
	@echo "make pdf        the built book printed to one PDF -> _build/pdf/book.pdf (builds the book if missing)"
	@echo "make bench      performance harness -> benchmarks/results/latest.json"
	@echo "make lab        JupyterLab on 127.0.0.1 with the notebooks/*.md opening as notebooks (jupytext)"
	@echo "make clean      remove build outputs (keeps .venv, data and stored results)"

# The venv takes about 7 GiB (torch's CUDA build is 5.5 GiB): say so before pip fails halfway.
NEED_GIB := 8
$(STAMP): pyproject.toml package.json package-lock.json
	@free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); test -x $(BIN)/python || \
	  test "$$free" -ge $(NEED_GIB) || { echo "setup needs about $(NEED_GIB) GiB free for $(VENV) and \
	$(CURDIR) has $$free GiB: free some disk (df -h .), then run make again"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e ".[dev,book,dist]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	npm ci --no-audit --no-fund --silent
	@touch $(STAMP)

# JupyterLab is installed apart from the extras: jupyterlab-server needs requests>=2.31 while torchattacks pins
# requests~=2.25.1 (it never imports it), so one pip resolve of both fails.
$(BIN)/jupyter-lab: $(STAMP)
	$(BIN)/python -m pip install -q 'jupyterlab>=4'
	@touch $@

setup: $(STAMP) $(BIN)/jupyter-lab

data: setup
	$(BIN)/cocorr data fetch mnist

book: setup data
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build . $(BOOK_FLAGS) || { \
	  echo "== book build failed; reports:"; \
	  find _build/html/reports -name '*.log' -print -exec cat {} \; 2>/dev/null; exit 1; }
	@echo "book written to _build/html/index.html ($$COCORR_PROFILE profile)"

lint: setup
	$(BIN)/ruff check cocorr_core tests benchmarks book/_ext tools

test: setup data lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -ra

test-fast: setup
	$(BIN)/python -m pytest -q -ra -m "not notebooks and not browser"

browser:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

test-book: setup browser
	@test -f _build/html/index.html || { echo "no built book: run 'make book' first"; exit 1; }
	$(BIN)/python -m pytest -q -ra -m browser tests/test_book_browser.py tests/test_book_pdf.py

# Prints the built book as it stands; `make book` first to rebuild it (pdf never forces a rebuild).
pdf: setup browser
	@test -f _build/html/index.html || $(MAKE) book
	$(BIN)/python tools/book_pdf.py

bench: setup data
	$(BIN)/python -m benchmarks --quick --json benchmarks/results/latest.json

# Every option lives in jupyter_lab_config.py, which tests/test_lab.py starts the same way.
lab: setup data
	@echo "JupyterLab ($$COCORR_PROFILE profile): open the http://127.0.0.1:...?token=... URL printed below; Ctrl-C stops it"
	$(BIN)/jupyter lab --config=jupyter_lab_config.py

clean:
	rm -rf _build
