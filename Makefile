# Two commands on a fresh machine: `make run` (service on embedded SQLite with the demo
# chain) and `make test` (the whole suite). Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

run: $(BIN)/.installed
	$(BIN)/o2o serve

test: $(BIN)/.installed
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .

bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks.bench_nearest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache o2o.db
