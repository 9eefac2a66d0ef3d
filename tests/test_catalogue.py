"""The indicator page and the marts' dbt docs come from one source, and document everything published (issue 3)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from decentwork import catalogue
from tests.test_indicators_independent import CATALOGUE

MODELS = Path(__file__).resolve().parent.parent / "dbt_project" / "models"


def test_generated_page_and_dbt_docs_are_up_to_date():
    stale = catalogue.write(check=True)
    assert stale == [], f"run `decentwork catalogue`: {[str(p) for p in stale]} differ from the catalogue seed"


def test_catalogue_seed_holds_every_spec_code_once():
    codes = [entry["code"] for entry in catalogue.load()]
    assert len(codes) == len(set(codes)) and set(codes) == set(CATALOGUE)
    assert all(
        entry["definition"] and entry["formula"] and entry["unit"] and entry["extracts"] for entry in catalogue.load()
    )


def test_every_wide_mart_column_names_a_catalogue_code():
    codes = set(CATALOGUE)
    for mart in catalogue.wide_marts():
        assert {code for _, code, _ in mart["columns"]} <= codes, mart["name"]


def test_wide_marts_are_the_seeds_and_their_models_only_call_the_macro():
    """The seeds ref_wide_marts and ref_wide_mart_columns are the one definition of the wide marts: each model
    is just `{{ wide_mart() }}` (the macro reads the columns and flags from the model's config.meta)."""
    marts = catalogue.wide_marts()
    models = {path.stem: path for path in (MODELS / "marts").glob("*/*.sql")}
    assert sorted(m["name"] for m in marts) == sorted(models)
    for mart in marts:
        names = [name for name, _, _ in mart["columns"]]
        assert names and len(names) == len(set(names)), mart["name"]
        lines = models[mart["name"]].read_text(encoding="utf-8").splitlines()
        assert lines[-1] == "{{ wide_mart() }}" and [line[:2] for line in lines[:-1]] in ([], ["{#"]), mart["name"]


def _documented() -> dict[str, dict[str, str]]:
    docs: dict[str, dict[str, str]] = {}
    for path in MODELS.rglob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            entry = docs.setdefault(model["name"], {})
            entry["__model__"] = model.get("description", "")
            entry.update({c["name"]: c.get("description", "") for c in model.get("columns", [])})
    return docs


def test_every_published_table_and_column_has_a_description(scenario):
    marts = scenario["root"] / "marts" / "marts.duckdb"
    docs = _documented()
    with duckdb.connect(str(marts), read_only=True) as con:
        columns = con.execute("select table_name, column_name from information_schema.columns").fetchall()
    tables = {t for t, _ in columns}
    assert {
        "indicators",
        "factory_compliance",
        "low_compliance",
        "country_wages",
        "cross_country_gender_gaps",
    } <= tables
    from assets.publish import CODES_COLUMNS, CODES_DESCRIPTION, CODES_TABLE

    # the code table is no dbt model: the publication documents it (tests/test_outputs_say_what_they_are.py reads
    # every comment back from marts.duckdb and the Parquet files)
    docs[CODES_TABLE] = {"__model__": CODES_DESCRIPTION, **CODES_COLUMNS}
    missing = [f"{t}.{c}" for t, c in columns if not docs.get(t, {}).get(c, "").strip()]
    missing += [t for t in tables if not docs.get(t, {}).get("__model__", "").strip()]
    assert missing == [], f"undocumented in dbt_project/models/**/*.yml: {missing}"
