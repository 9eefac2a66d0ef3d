"""An annual value rests on the months it covers (issue 21), end to end on the session's scenario sample.

Cambodia delivers its 2025 payroll and social security, then one month of a new year (January 2026) whose social
security has not arrived yet. Viet Nam's 2025 payroll lacks December (tests/scenario.py). What must be published:
Cambodia's 2026 is that month's figure, provisional (`P`, one month covered), never a year; its social security for
2026 is not available (no cell), never 0 % registered; Viet Nam's 2025 is provisional and left out of X_BW, which
pools the countries covering every month and says so. Values are checked against a computation from the delivered
rows.
"""

from __future__ import annotations

import polars as pl
import pytest

MONTH_BASED = "^(EAR_|HOW_|MINW_|GPG_|FEMALE_SHARE_|SS_)"  # the indicators that rest on months of payroll


@pytest.fixture(scope="module")
def run(scenario) -> dict:
    return scenario


def cells(run: dict, area: str, year: int) -> pl.DataFrame:
    return run["published"].filter(pl.col("ref_area") == area, pl.col("time") == year)


def test_one_month_of_a_new_year_is_that_months_provisional_figure(run):
    khm = cells(run, "KHM", 2026).filter(pl.col("indicator").str.contains(MONTH_BASED))
    assert khm.height > 20
    assert set(khm["obs_status"]) <= {"P", "C"} and "P" in set(khm["obs_status"])  # never published as a normal year
    assert set(khm["months_covered"]) == {1}
    assert all("2026-01 (1 month)" in c and "provisional" in c for c in khm["coverage"])
    # the value is January's: the mean monthly earnings of the rows delivered for it
    january = run["plants"]["khm_new_year"]["mean_monthly"]
    mean = khm.filter(
        pl.col("indicator") == "EAR_MEAN_MONTHLY", pl.col("sex") == "SEX_T", pl.col("classif1") == "CUR_TYPE_LCU"
    )
    assert mean["obs_status"].item() == "P"
    assert abs(mean["obs_value"].item() - january) <= 0.5 * 10 ** (len(str(int(mean["obs_value"].item()))) - 4)
    earlier = cells(run, "KHM", 2025).filter(pl.col("indicator").str.contains(MONTH_BASED))
    assert set(earlier["months_covered"]) == {3}  # the sample's October to December: the months it rests on


def test_social_security_not_yet_delivered_is_not_available_rather_than_zero(run):
    assert cells(run, "KHM", 2026).filter(pl.col("indicator").str.starts_with("SS_")).is_empty()
    covered = cells(run, "KHM", 2025).filter(pl.col("indicator") == "SS_REGISTERED_RT", pl.col("sex") == "SEX_T")
    assert covered["obs_value"].item() > 50 and covered["months_covered"].item() == 3


def test_a_country_with_fewer_months_is_provisional_and_left_out_of_x_bw(run):
    vnm = cells(run, "VNM", 2025).filter(pl.col("indicator").str.contains(MONTH_BASED))
    assert set(vnm["obs_status"]) <= {"P", "C"} and set(vnm["months_covered"]) == {2}
    assert all("not in X_BW" in c for c in vnm["coverage"] if c)

    def wage(area):
        return cells(run, area, 2025).filter(
            pl.col("indicator") == "EAR_MEAN_HOURLY", pl.col("sex") == "SEX_T", pl.col("classif1") == "CUR_TYPE_PPP"
        )

    pooled = wage("X_BW")
    coverage = pooled["coverage"].item()
    named = coverage.removeprefix("pools ").split(";")[0].split(", ")
    assert "VNM" not in named and set(named) == {"BGD", "HTI", "IDN", "JOR", "KHM"}
    assert "not pooled (fewer months than the others): VNM" in coverage
    # X_BW rests on the workers of the countries it pools, and on none of Viet Nam's
    assert pooled["n_workers"].item() == sum(wage(c)["n_workers"].item() for c in named)
    # indicators that rest on events of the year pool every country
    survey = cells(run, "X_BW", 2025).filter(pl.col("indicator") == "UNION_MEMBER_RT", pl.col("sex") == "SEX_T")
    assert survey["months_covered"].is_null().all() and "survey" in survey["coverage"].item()
    assert "not pooled" not in survey["coverage"].item()


def test_the_pooled_new_year_is_provisional_too(run):
    pooled = cells(run, "X_BW", 2026).filter(pl.col("indicator").str.contains(MONTH_BASED))
    assert pooled.height and set(pooled["obs_status"]) <= {"P", "C"} and set(pooled["months_covered"]) == {1}


def test_wide_marts_carry_the_provisional_status_beside_the_value(run):
    wages = pl.read_parquet(run["root"] / "marts" / "country_wages.parquet").filter(
        pl.col("ref_area") == "KHM", pl.col("time") == 2026, pl.col("sex") == "SEX_T"
    )
    assert wages["ear_mean_monthly_lcu_status"].item() == "P" and wages["ear_mean_monthly_lcu"].item() is not None
