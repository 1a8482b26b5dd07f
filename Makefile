# Two commands on a fresh machine: `make run` (service on embedded SQLite with the demo
# chain) and `make test` (the whole suite). Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# What the full suite uses beyond Python (Debian): PostGIS, Redis, headless Chromium and its
# driver, a CJK font for the screenshots. Without them those tests skip and say so.
SYSTEM_PACKAGES := postgresql-15-postgis-3 redis-server chromium chromium-driver fonts-wqy-microhei ffmpeg
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench clean deps

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

deps:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis tests/artifacts *.egg-info \
		o2o.db o2o.db-wal o2o.db-shm o2o.db-journal .o2o-dev-secrets
