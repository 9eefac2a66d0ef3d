# Two commands after cloning: `make run` and `make test` (see README).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-all sample ui bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e ".[dev]"
	$(BIN)/decentwork dbt-parse
	touch $(STAMP)

install: $(STAMP)

run: install           ## set up, generate the sample if data/raw is empty, run the whole pipeline
	$(BIN)/decentwork run

test: install          ## set up and run the test suite (tests marked scale excluded)
	$(BIN)/pytest

test-all: install      ## every test, the heavy ones too
	$(BIN)/pytest -m ""

ui: install            ## Dagster UI on the same instance as `decentwork run`
	$(BIN)/decentwork ui

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
