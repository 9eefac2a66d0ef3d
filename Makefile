# Two commands after cloning: `make run` and `make test` (see README).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := dev,spark,bench,postgres

.PHONY: install run test test-all lint format sample ui bench clean

MANIFEST := dbt_project/target/manifest.json
DBT_INPUTS := $(shell find dbt_project/models dbt_project/macros dbt_project/seeds dbt_project/tests -type f) dbt_project/dbt_project.yml dbt_project/profiles.yml

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e ".[$(EXTRAS)]"
	touch $(STAMP)

# the manifest the Dagster definitions load: parsed again whenever a dbt file changes
$(MANIFEST): $(STAMP) $(DBT_INPUTS)
	$(BIN)/decentwork dbt-parse

install: $(STAMP) $(MANIFEST)

run: install           ## set up, generate the sample if data/raw is empty, run the whole pipeline
	$(BIN)/decentwork run

test: install          ## set up and run the test suite (tests marked slow or scale excluded; CI runs the slow ones too)
	$(BIN)/pytest

test-all: install      ## every test, the heavy ones too
	$(BIN)/pytest -m ""

lint: install          ## ruff (lint and format check) on the Python, sqlfluff on the dbt models (CI runs it)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DECENTWORK_DATA_DIR=$$(mktemp -d) $(BIN)/sqlfluff lint dbt_project/models

format: install        ## apply ruff's fixes and format, and sqlfluff's fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	DECENTWORK_DATA_DIR=$$(mktemp -d) $(BIN)/sqlfluff fix dbt_project/models

ui: install            ## Dagster UI on the same instance as `decentwork run`
	$(BIN)/decentwork ui

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
