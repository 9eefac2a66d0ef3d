"""An annual value rests on the months it covers (issue 21), end to end through `decentwork run`.

Cambodia delivers its 2025 payroll and social security for all twelve months, then one month of a new year
(January 2026) whose social security has not arrived yet. Viet Nam's 2025 payroll lacks December. What must be
published: Cambodia's 2026 is that month's figure, provisional (`P`, one month covered), never a year; its social
security for 2026 is not available (no cell), never 0 % registered; Viet Nam's 2025 is provisional and left out of
X_BW, which pools Cambodia alone and says so. Values are checked against a computation from the delivered rows.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from decentwork.sample import generate

KEY = "reference-periods-key-0123456789abcdef"
MONTH_BASED = "^(EAR_|HOW_|MINW_|GPG_|FEMALE_SHARE_|SS_)"  # the indicators that rest on months of payroll


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("reference-periods") / "data"
    raw = root / "raw"
    generate(raw, factories=10, workers=800, months=12, countries=("KHM", "VNM"), bad_rows=False)
    december = raw / "payroll" / "KHM" / "payroll_2025-12.csv"
    with december.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["period"] = "2026-01"
    january = raw / "payroll" / "KHM" / "payroll_2026-01.csv"
    with january.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (raw / "payroll" / "VNM" / "payroll_2025-12.csv").unlink()  # Viet Nam: eleven months of 2025
    env = {**os.environ, "DECENTWORK_DATA_DIR": str(root), "DECENTWORK_PSEUDONYM_KEY": KEY}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), "run"], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {
        "root": root,
        "done": done,
        "january": rows,
        "published": pl.read_parquet(root / "marts" / "indicators.parquet"),
    }


def cells(run: dict, area: str, year: int) -> pl.DataFrame:
    return run["published"].filter(pl.col("ref_area") == area, pl.col("time") == year)


def test_one_month_of_a_new_year_is_that_months_provisional_figure(run):
    khm = cells(run, "KHM", 2026).filter(pl.col("indicator").str.contains(MONTH_BASED))
    assert khm.height > 20
    assert set(khm["obs_status"]) <= {"P", "C"} and "P" in set(khm["obs_status"])  # never published as a normal year
    assert set(khm["months_covered"]) == {1}
    assert all("2026-01 (1 month)" in c and "provisional" in c for c in khm["coverage"])
    # the value is January's: the mean monthly earnings of the rows delivered for it
    earnings = [
        sum(float(r[c]) for c in ("basic_pay", "overtime_pay", "allowances", "bonuses")) for r in run["january"]
    ]
    mean = khm.filter(
        pl.col("indicator") == "EAR_MEAN_MONTHLY", pl.col("sex") == "SEX_T", pl.col("classif1") == "CUR_TYPE_LCU"
    )
    assert mean["obs_status"].item() == "P"
    assert abs(mean["obs_value"].item() - sum(earnings) / len(earnings)) <= 0.5 * 10 ** (
        len(str(int(mean["obs_value"].item()))) - 4
    )
    complete = cells(run, "KHM", 2025).filter(pl.col("indicator").str.contains(MONTH_BASED))
    assert "P" not in set(complete["obs_status"]) and set(complete["months_covered"]) == {12}


def test_social_security_not_yet_delivered_is_not_available_rather_than_zero(run):
    assert cells(run, "KHM", 2026).filter(pl.col("indicator").str.starts_with("SS_")).is_empty()
    covered = cells(run, "KHM", 2025).filter(pl.col("indicator") == "SS_REGISTERED_RT", pl.col("sex") == "SEX_T")
    assert covered["obs_value"].item() > 50 and covered["months_covered"].item() == 12


def test_a_country_with_fewer_months_is_provisional_and_left_out_of_x_bw(run):
    vnm = cells(run, "VNM", 2025).filter(pl.col("indicator").str.contains(MONTH_BASED))
    assert set(vnm["obs_status"]) <= {"P", "C"} and set(vnm["months_covered"]) == {11}
    assert all("not in X_BW" in c for c in vnm["coverage"])
    pooled = cells(run, "X_BW", 2025)
    wage = pooled.filter(
        pl.col("indicator") == "EAR_MEAN_HOURLY", pl.col("sex") == "SEX_T", pl.col("classif1") == "CUR_TYPE_PPP"
    )
    khm = cells(run, "KHM", 2025).filter(
        pl.col("indicator") == "EAR_MEAN_HOURLY", pl.col("sex") == "SEX_T", pl.col("classif1") == "CUR_TYPE_PPP"
    )
    assert wage["obs_value"].item() == khm["obs_value"].item() and wage["n_workers"].item() == khm["n_workers"].item()
    assert (
        wage["coverage"].item().startswith("pools KHM;")
        and "not pooled (fewer months than the others): VNM" in wage["coverage"].item()
    )
    # indicators that rest on events of the year pool both countries
    survey = pooled.filter(pl.col("indicator") == "UNION_MEMBER_RT", pl.col("sex") == "SEX_T")
    assert survey["months_covered"].is_null().all() and "survey" in survey["coverage"].item()


def test_the_pooled_new_year_is_provisional_too(run):
    pooled = cells(run, "X_BW", 2026).filter(pl.col("indicator").str.contains(MONTH_BASED))
    assert pooled.height and set(pooled["obs_status"]) <= {"P", "C"} and set(pooled["months_covered"]) == {1}


def test_wide_marts_carry_the_provisional_status_beside_the_value(run):
    wages = pl.read_parquet(run["root"] / "marts" / "country_wages.parquet").filter(
        pl.col("ref_area") == "KHM", pl.col("time") == 2026, pl.col("sex") == "SEX_T"
    )
    assert wages["ear_mean_monthly_lcu_status"].item() == "P" and wages["ear_mean_monthly_lcu"].item() is not None
