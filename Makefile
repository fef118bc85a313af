# Verivali: `make run` (set up everything and serve the demo) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export VERIVALI_DATA_DIR ?= $(CURDIR)/instance

.PHONY: run test check lint bench clean install messages

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

# Extract the web UI's texts into the English catalog (then translate the empty entries).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l --no-location --sort-output -o $(VENV)/messages.pot .
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d server/translations -l en --no-fuzzy-matching --width 100

bench: $(STAMP)
	$(BIN)/python bench/submissions.py

clean:
	rm -rf $(VENV) .pytest_cache
