"""One country's odd delivery never stops another's publication (issue 19), end to end through `decentwork run`.

Jordan sends, at once: one month of payroll in the contract's own form although its mapping describes its usual
workbook with title rows (a layout change), a first small delivery for a new year with women only (a one-sex
year), and a file that cannot be read at all. Cambodia and Viet Nam deliver as usual. Everything readable
loads, the unreadable file is rejected by name, the new year publishes its men's cells as not applicable, and
every country publishes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from decentwork.sample import generate
from tests.conftest import PAYROLL_HEADER

KEY = "deliveries-end-to-end-key-0123456789abcdef"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("odd-deliveries") / "data"
    raw = root / "raw"
    generate(raw, factories=16, workers=1200, months=2, countries=("KHM", "VNM", "JOR"), bad_rows=False)
    payroll = raw / "payroll" / "JOR"
    workbook = sorted(payroll.glob("*.xlsx"))[-1]
    month = pl.read_excel(workbook, read_options={"header_row": 2}, infer_schema_length=0)
    workbook.unlink()
    month.write_csv(payroll / "payroll_canonical.csv")  # the contract's form, header on row 1
    factories = pl.read_csv(next((raw / "factories" / "JOR").glob("*.csv")), infer_schema=False)["ID"].to_list()[:3]
    rows = [
        f"{factories[i % 3]},2026-01,N{i},JO-2026-{i:04d},Worker "
        f"{i},F,1990-01-01,2025-06-01,sewing_operator,open_ended,"
        f"monthly,26,208,10,{300 + i},20,15,0,0,10,325,JOD,bank"
        for i in range(15)
    ]
    (payroll / "payroll_2026-01.csv").write_text(PAYROLL_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (payroll / "payroll_broken.csv").write_bytes(b"PK\x03\x04 this is a zip archive, not a CSV")
    env = {**os.environ, "DECENTWORK_DATA_DIR": str(root), "DECENTWORK_PSEUDONYM_KEY": KEY}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), "run"], env=env, capture_output=True, text=True, timeout=900
    )
    return {"root": root, "done": done, "month": month.height}


def test_every_country_publishes(run):
    done = run["done"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    published = pl.read_parquet(run["root"] / "marts" / "indicators.parquet")
    assert {"KHM", "VNM", "JOR", "X_BW"} <= set(published["ref_area"])


def test_the_canonical_month_loads_beside_the_workbooks_and_the_broken_file_is_named(run):
    files = pl.read_parquet(run["root"] / "quarantine" / "payroll" / "country=JOR" / "files.parquet")
    by_name = {r["file"].rsplit("/", 1)[1]: r for r in files.iter_rows(named=True)}
    assert (
        by_name["payroll_canonical.csv"]["status"] == "loaded"
        and by_name["payroll_canonical.csv"]["layout"] == "canonical"
    )
    assert by_name["payroll_canonical.csv"]["rows_loaded"] == run["month"]
    assert {r["layout"] for n, r in by_name.items() if n.endswith(".xlsx")} == {"ministry_workbook"}
    assert (
        by_name["payroll_broken.csv"]["status"] == "rejected"
        and "zip archive" in by_name["payroll_broken.csv"]["message"]
    )
    assert "REJECTED payroll/JOR/payroll_broken.csv" in run["done"].stdout


def test_a_year_with_women_only_publishes_the_men_as_not_applicable(run):
    published = pl.read_parquet(run["root"] / "marts" / "indicators.parquet")
    year = published.filter(
        pl.col("ref_area") == "JOR",
        pl.col("time") == 2026,
        pl.col("indicator") == "EAR_MEAN_HOURLY",
        pl.col("classif1") == "CUR_TYPE_LCU",
    )
    by_sex = {r["sex"]: r for r in year.iter_rows(named=True)}
    assert set(by_sex) == {"SEX_T", "SEX_F", "SEX_M"}
    assert (
        by_sex["SEX_M"]["obs_status"] == "M"
        and by_sex["SEX_M"]["obs_value"] is None
        and by_sex["SEX_M"]["n_workers"] == 0
    )
    assert by_sex["SEX_F"]["obs_value"] is not None and by_sex["SEX_F"]["n_workers"] == 15


@pytest.fixture(scope="module")
def by_country(tmp_path_factory) -> dict:
    """Cambodia and Viet Nam publish; then Cambodia sends a month whose hours are all zero (no hourly earnings: the
    headline indicator of a staged year is missing, a gate fails) while Viet Nam sends its next month."""
    root = tmp_path_factory.mktemp("by-country") / "data"
    raw = root / "raw"
    generate(raw, factories=12, workers=900, months=2, countries=("KHM", "VNM"), bad_rows=False)
    env = {**os.environ, "DECENTWORK_DATA_DIR": str(root), "DECENTWORK_PSEUDONYM_KEY": KEY}
    command = [str(Path(sys.executable).parent / "decentwork"), "run"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    before = pl.read_parquet(root / "marts" / "indicators.parquet")
    khm = pl.read_csv(sorted((raw / "payroll" / "KHM").glob("*.csv"))[-1], infer_schema=False)
    khm.with_columns(
        pl.lit("2026-01").alias("period"), pl.lit("0").alias("regular_hours"), pl.lit("0").alias("overtime_hours")
    ).write_csv(raw / "payroll" / "KHM" / "payroll_2026-01.csv")
    vnm = pl.read_csv(sorted((raw / "payroll" / "VNM").glob("*.csv"))[-1], infer_schema=False)
    vnm.with_columns(pl.lit("2026-01").alias("Kỳ lương")).write_csv(raw / "payroll" / "VNM" / "payroll_2026-01.csv")
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    return {
        "root": root,
        "before": before,
        "second": second,
        "after": pl.read_parquet(root / "marts" / "indicators.parquet"),
    }


@pytest.mark.slow  # two runs
def test_a_country_failing_a_gate_keeps_its_previous_rows_and_the_others_publish(by_country):
    second, before, after = by_country["second"], by_country["before"], by_country["after"]
    assert second.returncode == 1, second.stdout[-3000:] + second.stderr[-3000:]
    assert "ERROR KHM keeps its previous publication" in second.stdout and "headline indicator" in second.stdout
    khm = pl.col("ref_area") == "KHM"
    assert (
        after.filter(khm)
        .sort("indicator", "sex", "classif1", "time")
        .equals(before.filter(khm).sort("indicator", "sex", "classif1", "time"))
    )
    assert 2026 in after.filter(pl.col("ref_area") == "VNM")["time"].to_list()  # Viet Nam's new month is out


@pytest.mark.slow
def test_the_pooled_cells_cover_the_publishing_countries_only_and_say_so(by_country):
    after, second = by_country["after"], by_country["second"]
    assert "X_BW pools VNM; previous publication kept for KHM" in second.stdout

    def cell(area, year):
        rows = after.filter(
            pl.col("ref_area") == area,
            pl.col("indicator") == "EAR_MEAN_HOURLY",
            pl.col("sex") == "SEX_T",
            pl.col("classif1") == "CUR_TYPE_PPP",
            pl.col("time") == year,
        )
        return rows.row(0, named=True)

    for year in (2025, 2026):
        pooled, vnm = cell("X_BW", year), cell("VNM", year)
        assert pooled["n_workers"] == vnm["n_workers"] and pooled["obs_value"] == vnm["obs_value"]
    check = __import__("json").loads((by_country["root"] / "marts" / "quality" / "last_check.json").read_text())
    assert check["disclosure"]["pooled_countries"] == ["VNM"] and list(
        check["disclosure"]["countries_kept_previous"]
    ) == ["KHM"]
