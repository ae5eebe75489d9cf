# THUNES. `make backtest` installs everything, then backtests the embedded default.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
BIN := $(VENV)/bin
# numba's compiled kernels are cached here (a folder per version of the sources, see
# thunes/jit_cache.py), so every process after the first starts warm.
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
IMAGE := thunes:latest

.PHONY: install backtest optimize paper test lint format bench pre-commit docker-build docker-run docker-stop

install:  ## uv venv on Python 3.12 with every dependency, bytecode compiled (THUNES's own too)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --quiet --compile-bytecode
	@# the editable install's own sources: with PYTHONDONTWRITEBYTECODE set, each start would
	@# compile them again (~0.5 s CPU); an edited file's stale .pyc is ignored by its mtime
	@$(BIN)/python -m compileall -q thunes hydra_plugins

backtest: install  ## SMA crossover on the embedded simulator, BTC/USDT 1h
	$(BIN)/thunes mode=backtest $(ARGS)

optimize: install  ## Optuna (TPE) sweep of the default strategy, checked out of sample
	$(BIN)/thunes -m +sweep=sma $(ARGS)

paper: install  ## paper trading on the embedded simulator: the live engine, simulated fills (Ctrl-C stops)
	$(BIN)/thunes mode=paper $(ARGS)

# Most end-to-end tests wait on a simulated market's clock, not on the CPU: four workers
# (pytest-xdist) on two cores finish the suite in about half the time of one.
TEST_WORKERS ?= 4

test: install  ## the whole suite, on $(TEST_WORKERS) workers (TEST_WORKERS=0: in this process)
	$(BIN)/pytest -q -n $(TEST_WORKERS) $(ARGS)

lint: install
	$(BIN)/ruff check thunes tests hydra_plugins
	$(BIN)/ruff format --check thunes tests hydra_plugins
	$(BIN)/mypy

format: install
	$(BIN)/ruff format thunes tests hydra_plugins
	$(BIN)/ruff check --fix thunes tests hydra_plugins

bench: install  ## speed and memory, as ratios to bare references measured in the same run
	$(BIN)/python -m tests.benchmarks.run $(ARGS)

pre-commit: install  ## install the git hooks (.pre-commit-config.yaml), then run them on every file
	$(BIN)/pre-commit install
	$(BIN)/pre-commit run --all-files

# The container and its monitoring (compose.yaml). The bot runs as your user id, so that what
# it writes into experiments/, mlruns/ and state/ stays yours.
COMPOSE := THUNES_UID=$$(id -u) THUNES_GID=$$(id -g) THUNES_ARGS="$(ARGS)" docker compose

docker-build:  ## the image, thunes:latest
	docker build -t $(IMAGE) .

docker-run: docker-build  ## the bot (paper by default) with Prometheus, Grafana, MLflow, Loki
	mkdir -p experiments mlruns state
	$(COMPOSE) up -d

docker-stop:  ## stops and removes the containers (the volumes and your files stay)
	$(COMPOSE) down
