# The two commands of the README, and a few more for developers.
# Each target creates .venv and installs omnicx into it first, so a fresh
# clone needs nothing but python3 (>= 3.11) and make.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/omnicx demo

test: $(STAMP)
	.ci/test-services
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	cd benchmarks && for b in bench_*.py; do ../$(BIN)/python $$b; done
