# Verivali: `make run` (set up everything and serve the demo) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export VERIVALI_DATA_DIR ?= $(CURDIR)/instance

.PHONY: run test check lint bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/verivali init
	$(BIN)/verivali demo
	$(BIN)/verivali serve

test: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile tests

check: $(STAMP)
	$(BIN)/ruff check server tests bench
	$(BIN)/ruff format --check server tests bench
	$(BIN)/mypy server

bench: $(STAMP)
	$(BIN)/python bench/submissions.py

clean:
	rm -rf $(VENV) .pytest_cache
