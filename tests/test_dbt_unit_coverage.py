"""Every formula of the catalogue has a dbt unit test with hand-worked values (issue 3).

The unit tests themselves run inside every `dbt build` (so in every `decentwork run` and the end-to-end
tests, where a failing one fails the run); this checks that together their expected rows name every
indicator code of spec/indicators.md, and the row-level formulas (earnings, hourly earnings, the minimum
due, years in the programme, the social-security link) too.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml

from tests.test_indicators_independent import CATALOGUE

MODELS = Path(__file__).resolve().parent.parent / "dbt_project" / "models"


def unit_tests() -> list[dict]:
    found = []
    for path in MODELS.rglob("*.yml"):
        found += yaml.safe_load(path.read_text(encoding="utf-8")).get("unit_tests", [])
    return found


def expected_rows(test: dict) -> list[dict]:
    expect = test["expect"]
    return list(csv.DictReader(io.StringIO(expect["rows"]))) if expect.get("format") == "csv" else expect["rows"]


def test_every_catalogue_code_is_checked_by_a_unit_test():
    codes = {row["indicator"] for test in unit_tests() if test["model"] == "int_indicator_cells" for row in expected_rows(test)}
    assert codes == set(CATALOGUE), sorted(set(CATALOGUE) ^ codes)


def test_row_level_formulas_and_disclosure_control_have_unit_tests():
    checked = {(test["model"], column) for test in unit_tests() for row in expected_rows(test) for column in row}
    for model, column in [("stg_payroll", "earnings"), ("stg_payroll", "hourly_earnings"),
                          ("int_worker_months", "minimum_wage_due"), ("int_worker_months", "years_in_programme"),
                          ("int_worker_months", "is_registered"), ("int_worker_months", "contribution_due"),
                          ("int_month_references", "minimum_wage_monthly"), ("indicators", "obs_status")]:
        assert (model, column) in checked, (model, column)
