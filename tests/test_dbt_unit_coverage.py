"""Every formula of the catalogue has a dbt unit test with hand-worked values (issue 3).

The unit tests run here on their own: dbt needs the tables a unit test's model reads, for their column types, so
the models are first built empty (`dbt build --empty`) over empty staged files with the staged schema, in a fresh
data root, with the seeds; no end-to-end run comes first. A refresh leaves them out of its `dbt build`, as dbt
advises for production (assets/dbt_models.py). This also checks that together their expected rows name every
indicator code of spec/indicators.md, and the row-level formulas (earnings, hourly earnings, the minimum
due, years in the programme, the social-security link) too.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import yaml

from assets.dbt_models import MARTS
from assets.dbt_runner import DbtInvocation, invoke
from decentwork.settings import SOURCES, Paths
from schemas.extracts import staged_dtypes
from tests.test_indicators_independent import CATALOGUE

MODELS = Path(__file__).resolve().parent.parent / "dbt_project" / "models"
SEED = MODELS.parent / "seeds" / "ref_indicators.csv"


def unit_tests() -> list[dict]:
    found = []
    for path in MODELS.rglob("*.yml"):
        found += yaml.safe_load(path.read_text(encoding="utf-8")).get("unit_tests", [])
    return found


def expected_rows(test: dict) -> list[dict]:
    expect = test["expect"]
    return list(csv.DictReader(io.StringIO(expect["rows"]))) if expect.get("format") == "csv" else expect["rows"]


def test_every_catalogue_code_is_checked_by_a_unit_test():
    """Each code in the unit tests of the topic model that computes it (int_cells_<topic>, the topic of
    seeds/ref_indicators.csv), and int_indicator_cells unions every topic model."""
    topics = {row["code"]: row["topic"] for row in csv.DictReader(SEED.open(encoding="utf-8"))}
    checked = {
        (row["indicator"], test["model"]) for test in unit_tests() for row in expected_rows(test) if "indicator" in row
    }
    codes = {code for code, model in checked if model == f"int_cells_{topics.get(code)}"}
    assert codes == set(CATALOGUE), sorted(set(CATALOGUE) ^ codes)
    union = (MODELS / "intermediate" / "int_indicator_cells.sql").read_text(encoding="utf-8")
    for topic in set(topics.values()):
        assert f"ref('int_cells_{topic}')" in union, topic


def test_row_level_formulas_have_unit_tests():
    """(Disclosure control is Python now: tests/test_disclosure.py.)"""
    checked = {(test["model"], column) for test in unit_tests() for row in expected_rows(test) for column in row}
    for model, column in [
        ("stg_payroll", "earnings"),
        ("stg_payroll", "hourly_earnings"),
        ("int_worker_months", "minimum_wage_due"),
        ("int_worker_months", "years_in_programme"),
        ("int_worker_registrations", "registration_date"),
        ("int_month_parts", "ss_registered_rt_sum"),
        ("int_worker_months", "contribution_due"),
        ("int_month_references", "minimum_wage_monthly"),
    ]:
        assert (model, column) in checked, (model, column)


def run_dbt_unit_tests(
    data_root: Path, work: Path, target: str = "duckdb", empty_parents: bool = False
) -> DbtInvocation:
    """`dbt test --select test_type:unit` on the warehouse under `data_root` (artifacts in `work`). With
    `empty_parents`, a fresh data root: every staged extract as an empty file of its staged schema, then every model
    but the marts built empty (`--empty`) and the seeds loaded, so that the unit tests find their parents."""
    env = {"DECENTWORK_DATA_DIR": str(data_root), "DECENTWORK_DBT_TARGET": target}
    if empty_parents:
        paths = Paths(data_root)
        for source in SOURCES:
            staged = paths.staged_file(source, "KHM")
            staged.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame(schema=staged_dtypes(source)).write_parquet(staged)
        parents = invoke(
            ["build", "--empty", "--exclude", MARTS, "--exclude-resource-type", "test", "unit_test"],
            work / "empty",
            env,
        )
        assert parents.success, parents.problems
    return invoke(["test", "--select", "test_type:unit"], work / "target", env)


def assert_every_unit_test_passed(done: DbtInvocation) -> None:
    """`run_dbt_unit_tests` succeeded, and every unit test of the project ran and passed (a selection
    matching nothing would succeed too)."""
    assert done.success, done.problems
    passed = sorted(
        r["data"]["node_info"]["unique_id"].split(".")[-1]
        for r in done.results
        if r["data"]["node_info"]["unique_id"].startswith("unit_test.") and r["data"]["status"] == "pass"
    )
    assert passed == sorted(test["name"] for test in unit_tests())


def test_the_dbt_unit_tests_pass(tmp_path: Path):
    assert_every_unit_test_passed(run_dbt_unit_tests(tmp_path / "data", tmp_path, empty_parents=True))
