# THUNES. `make backtest` installs everything, then backtests the embedded default.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
BIN := $(VENV)/bin
# numba's compiled kernels are cached here (a folder per version of the sources, see
# thunes/jit_cache.py), so every process after the first starts warm.
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
IMAGE := thunes:latest

.PHONY: install backtest optimize paper test lint format bench docker-build docker-run docker-stop

install:  ## uv venv on Python 3.12 with every dependency, bytecode compiled
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --quiet --compile-bytecode

backtest: install  ## SMA crossover on the embedded simulator, BTC/USDT 1h
	$(BIN)/thunes mode=backtest $(ARGS)

optimize: install  ## Optuna (TPE) sweep of the default strategy, checked out of sample
	$(BIN)/thunes -m +sweep=sma $(ARGS)

paper: install  ## paper trading on the embedded simulator: the live engine, simulated fills (Ctrl-C stops)
	$(BIN)/thunes mode=paper $(ARGS)

test: install  ## the whole suite
	$(BIN)/pytest -q $(ARGS)

lint: install
	$(BIN)/ruff check thunes tests hydra_plugins
	$(BIN)/ruff format --check thunes tests hydra_plugins
	$(BIN)/mypy

format: install
	$(BIN)/ruff format thunes tests hydra_plugins
	$(BIN)/ruff check --fix thunes tests hydra_plugins

bench: install  ## speed and memory, as ratios to bare references measured in the same run
	$(BIN)/python -m tests.benchmarks.run $(ARGS)

docker-build:
	docker build -t $(IMAGE) .

docker-run:
	docker run -d --name thunes -v $(CURDIR)/experiments:/app/experiments \
		-v $(CURDIR)/mlruns:/app/mlruns $(IMAGE) $(ARGS)

docker-stop:
	-docker stop thunes && docker rm thunes
