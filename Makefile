# Two commands after cloning: `make run` and `make test` (see README).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install install-test install-spark run test test-slow test-spark test-all lint format sample ui bench clean

MANIFEST := dbt_project/target/manifest.json
DBT_INPUTS := $(shell find dbt_project/models dbt_project/macros dbt_project/seeds dbt_project/tests -type f) dbt_project/dbt_project.yml dbt_project/profiles.yml

# What each target needs, no more: the main job its runtime dependencies only; the tests pytest, lint and the
# instances' drivers (psutil for the daemon's process tree, PostgreSQL), for the slow tests too; test-spark Spark as
# well (Great Expectations imports pyspark wherever it is installed: 0.7 s in every refresh).
# One stamp per set, installed from the lock, again when pyproject.toml or the lock change.
$(VENV)/.installed-runtime: EXTRAS :=
$(VENV)/.installed-test: EXTRAS := [dev,bench,postgres]
$(VENV)/.installed-spark: EXTRAS := [dev,bench,postgres,spark]
#
# Bytecode is compiled at install (--compile-bytecode, and compileall for the house's own packages): where
# PYTHONDONTWRITEBYTECODE is set, as on CI machines, Python never writes the .pyc files it reads, and every process
# would compile Dagster, dbt and the rest from source again: about 7 s of a refresh's start-up here.
$(VENV)/.installed-%: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c requirements.lock -e ".$(EXTRAS)"
	$(BIN)/python -m compileall -q assets pipelines schemas decentwork
	touch $@

# the manifest the Dagster definitions load: parsed again whenever a dbt file changes
$(MANIFEST): $(DBT_INPUTS) | $(VENV)/.installed-runtime
	$(BIN)/decentwork dbt-parse

install: $(VENV)/.installed-runtime $(MANIFEST)

install-test: $(VENV)/.installed-test $(MANIFEST)

install-spark: $(VENV)/.installed-spark $(MANIFEST)

run: install           ## set up (runtime dependencies only), generate the sample if data/raw is empty, run the pipeline
	$(BIN)/decentwork run

test: install-test     ## set up and run the test suite on two workers (tests marked slow or scale excluded)
	$(BIN)/pytest $(PYTEST_ARGS)

test-slow: install-test  ## the tests with several full runs each (crash safety, faults, the daemon): CI runs them
	$(BIN)/pytest -m "slow and not scale" $(PYTEST_ARGS)

test-spark: install-spark ## the sample built by dbt on Apache Spark publishes what DuckDB publishes (Java 17+; not in CI)
	$(BIN)/pytest -m spark $(PYTEST_ARGS)

test-all: install-spark ## every test, the heavy ones too
	$(BIN)/pytest -m "" $(PYTEST_ARGS)

lint: install-test     ## ruff (lint and format check) on the Python, sqlfluff on the dbt models (CI runs it)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DECENTWORK_DATA_DIR=$$(mktemp -d) $(BIN)/sqlfluff lint --processes 2 dbt_project/models  # 50 s here, 74 on one

format: install-test   ## apply ruff's fixes and format, and sqlfluff's fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	DECENTWORK_DATA_DIR=$$(mktemp -d) $(BIN)/sqlfluff fix dbt_project/models

ui: install            ## Dagster UI on the same instance as `decentwork run`
	$(BIN)/decentwork ui

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
