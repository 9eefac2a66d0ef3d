"""A small new year of one sex withholds nothing else (issue 29, point 5).

Hand-made payroll cells from worker-months (overtime, its share above the limit, the share of women): two usual
programmes with both sexes in 2025 and 2026, and a programme S whose 2025 is usual and whose 2026 is a first
delivery of one sex only. The family: one factory or several, below the thresholds or above, women or men. Each is
controlled by assets/disclosure/control.py, then:

- the absent sex is published as not applicable (`M`, no value, zero counts) whatever the present sex's status;
- the present sex and the total are one cell (same people): one status, and no attack gives either back;
- S's 2025 and every other country-year come out exactly as without S's 2026;
- the quality gates pass for S (sex coverage complete), so the refresh withholds nothing.
The pipeline's own one-sex years are in tests/test_deliveries_end_to_end.py (the scenario's Jordan, and a small one
below the thresholds delivered by a national refresh).
"""

from __future__ import annotations

import random

import polars as pl
import pytest

from assets.disclosure.control import control
from tests.test_suppression_attack import derivable_cells, differencing

LIMIT = 60.0  # overtime hours a month
KEY = ["ref_area", "indicator", "sex", "classif1", "time"]


def _worker_months(programmes: dict, seed: int = 3) -> pl.DataFrame:
    """programmes: country -> year -> (workers, factories, sexes)."""
    rng = random.Random(seed)
    rows = []
    for country, years in programmes.items():
        for year, (workers, factories, sexes) in years.items():
            for w in range(workers):
                sex = sexes[w % len(sexes)] if len(sexes) == 1 else ("F" if rng.random() < 0.7 else "M")
                for _month in range(1, 4):
                    rows.append(
                        {
                            "country": country,
                            "year": year,
                            "worker": f"{country}{year}-{w}",
                            "factory": f"{country}-{w % factories}",
                            "sex": sex,
                            "overtime": rng.choice([0.0, 10.0, 30.0, 75.0]),
                        }
                    )
    return pl.DataFrame(rows)


def _cells(months: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = []
    for year in months["year"].unique().sort():
        of_year = months.filter(pl.col("year") == year)
        for area in [*of_year["country"].unique().sort(), "X_BW"]:
            scope = of_year if area == "X_BW" else of_year.filter(pl.col("country") == area)
            for sex in ("SEX_T", "SEX_F", "SEX_M"):
                part = scope if sex == "SEX_T" else scope.filter(pl.col("sex") == sex[-1])
                if part.is_empty():
                    continue  # nobody of this sex: no cell (dbt makes none either)
                common = {
                    "ref_area": area,
                    "sex": sex,
                    "classif1": "_Z",
                    "time": int(year),
                    "n_workers": part["worker"].n_unique(),
                    "n_factories": part["factory"].n_unique(),
                    "basis": "workers",
                    "n_workers_f": None,
                    "n_workers_m": None,
                    "n_factories_f": None,
                    "n_factories_m": None,
                }
                excess = float((part["overtime"] > LIMIT).sum())
                for indicator, unit, numerator in (
                    ("HOW_OT_MEAN", "HOURS", float(part["overtime"].sum())),
                    ("HOW_OT_EXCESS_RT", "PCT", 100 * excess),
                ):
                    out.append(
                        common
                        | {
                            "indicator": indicator,
                            "unit": unit,
                            "obs_value": numerator / part.height,
                            "numerator": numerator,
                            "denominator": float(part.height),
                        }
                    )
            women = scope.filter(pl.col("sex") == "F")["worker"].n_unique()
            everyone = scope["worker"].n_unique()
            out.append(
                {
                    "ref_area": area,
                    "indicator": "FEMALE_SHARE_WORKFORCE",
                    "sex": "SEX_T",
                    "classif1": "_Z",
                    "time": int(year),
                    "n_workers": everyone,
                    "n_factories": scope["factory"].n_unique(),
                    "basis": "workers",
                    "n_workers_f": None,
                    "n_workers_m": None,
                    "n_factories_f": None,
                    "n_factories_m": None,
                    "unit": "PCT",
                    "obs_value": 100 * women / everyone,
                    "numerator": float(100 * women),
                    "denominator": float(everyone),
                }
            )
    cells = pl.DataFrame(out, schema_overrides={"n_workers_f": pl.Int64, "n_workers_m": pl.Int64})
    contributions = (
        months.group_by(pl.lit("payroll").alias("population"), "country", "year", "sex", "factory")
        .agg(pl.col("worker").n_unique().alias("n"))
        .select(
            "population",
            "country",
            pl.col("year").cast(pl.Int64),
            "sex",
            pl.lit("_Z").alias("breakdown"),
            pl.col("factory").alias("factory_key"),
            pl.col("n").cast(pl.Int64),
        )
    )
    return cells, contributions


USUAL = {"A": {2025: (400, 12, "FM"), 2026: (380, 12, "FM")}, "B": {2025: (250, 8, "FM"), 2026: (260, 8, "FM")}}
FAMILY = {
    "one woman in one factory": (1, 1, "F"),
    "four women in one factory (below the thresholds)": (4, 1, "F"),
    "twelve women in two factories (below: factories)": (12, 2, "F"),
    "nine men in three factories (below: workers)": (9, 3, "M"),
    "forty women in four factories (above the thresholds)": (40, 4, "F"),
}


def _control(small_year):
    programmes = {**USUAL, "S": {2025: (120, 5, "FM"), **({2026: small_year} if small_year else {})}}
    cells, contributions = _cells(_worker_months(programmes))
    return cells, control(cells, contributions)


@pytest.fixture(scope="module")
def without_the_new_year():
    return _control(None)[1].frame


@pytest.mark.parametrize("name", list(FAMILY))
def test_a_small_one_sex_year_publishes_the_other_sex_as_not_applicable(name, without_the_new_year):
    workers, factories, sex = FAMILY[name]
    _, controlled = _control((workers, factories, sex))
    assert controlled.audit.passed
    frame = controlled.frame
    year = frame.filter(pl.col("ref_area") == "S", pl.col("time") == 2026)
    absent, present = ("SEX_M", "SEX_F") if sex == "F" else ("SEX_F", "SEX_M")
    for indicator in ("HOW_OT_MEAN", "HOW_OT_EXCESS_RT"):
        by_sex = {r["sex"]: r for r in year.filter(pl.col("indicator") == indicator).iter_rows(named=True)}
        assert set(by_sex) == {"SEX_T", "SEX_F", "SEX_M"}, by_sex
        assert by_sex[absent]["obs_status"] == "M" and by_sex[absent]["obs_value"] is None
        assert by_sex[absent]["n_workers"] == 0
        assert by_sex[present]["obs_status"] == by_sex["SEX_T"]["obs_status"]  # the same people: one status
        assert by_sex[present]["obs_value"] == by_sex["SEX_T"]["obs_value"]
        below = workers < 10 or factories < 3
        assert (by_sex["SEX_T"]["obs_status"] == "C") == below
    assert differencing(frame) == []
    assert derivable_cells(frame) == []
    # every other year comes out as without S's new year; in 2026 the others publish (a secondary suppression beside
    # S's small cells may take one of theirs: that is what protects S)
    earlier = pl.col("time") != 2026
    assert frame.filter(earlier).sort(KEY).equals(without_the_new_year.filter(earlier).sort(KEY))
    others = frame.filter(pl.col("time") == 2026, pl.col("ref_area").is_in(["A", "B", "X_BW"]))
    assert others.height == without_the_new_year.filter(pl.col("time") == 2026).height
    assert (others["obs_status"] == "C").sum() <= others.height / 2


def test_the_pooled_cell_does_not_give_a_suppressed_small_year_away():
    """X_BW 2026 less A and B is S's 2026: where S is suppressed, X_BW (or a country) goes with it."""
    _, controlled = _control((4, 1, "F"))
    frame = controlled.frame
    for indicator in ("HOW_OT_MEAN", "HOW_OT_EXCESS_RT"):
        rows = frame.filter(pl.col("indicator") == indicator, pl.col("sex") == "SEX_T", pl.col("time") == 2026)
        status = dict(zip(rows["ref_area"], rows["obs_status"], strict=True))
        assert status["S"] == "C"
        assert sum(status[c] == "C" for c in ("A", "B", "X_BW")) >= 1, status


def test_the_gates_pass_for_a_small_one_sex_year(tmp_path):
    """The quality gates that withheld the whole country: sex coverage is complete, no error names S."""
    from assets.quality import validate_publication

    _, controlled = _control((4, 1, "F"))
    controlled.frame.write_parquet(tmp_path / "indicators.parquet")
    report = validate_publication(tmp_path, None, tmp_path / "quality", data_docs=False)
    assert "S" not in report.errors_by_country, report.errors_by_country
    assert report.success, report.errors[:3]
