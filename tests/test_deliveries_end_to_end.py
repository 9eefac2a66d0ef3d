"""One country's odd delivery never stops another's publication (issue 19), end to end through `decentwork run`.

In the session's scenario sample (tests/scenario.py) Jordan sends, at once: December's payroll in the contract's own
form although its mapping describes its usual workbook with title rows (a layout change), a first small delivery for
a new year with women only (a one-sex year), and a file that cannot be read at all. The other countries deliver as
usual. Everything readable loads, the unreadable file is rejected by name, the new year publishes its men's cells as
not applicable, and every country publishes.

Then, on a copy of that publication, a second delivery round: Cambodia sends a month of a new year whose hours are
all zero (no hourly earnings: the headline indicator of a staged year is missing, a gate fails), Viet Nam sends its
next month, and someone drops a payroll file in a folder that is no country code. Cambodia's 2027 is withheld
(its other years publish, issue 29), Viet Nam's new month publishes, X_BW pools what publishes and says so, and the
stray folder is named and not loaded. In the same round Haiti sends the first month of a new year with four women
of one factory (every cell below the thresholds, issue 29): its men are not applicable, nothing of Haiti is
withheld.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import PAYROLL_HEADER, decentwork
from tests.scenario import COUNTRIES, KEY, WOMEN_ONLY_ROWS, copy_root

CORPUS_PAYROLL = Path(__file__).parent / "corpus" / "payroll" / "hours_and_pay.csv"
TINY_WOMEN = 4
KEY_COLUMNS = ["ref_area", "indicator", "sex", "classif1", "time"]


@pytest.fixture(scope="module")
def run(scenario) -> dict:
    return scenario


def test_every_country_publishes(run):
    published = run["published"]
    assert {"KHM", "VNM", "JOR", "X_BW"} <= set(published["ref_area"])
    assert set(published["ref_area"]) == {*COUNTRIES, "X_BW"}


def test_the_canonical_month_loads_beside_the_workbooks_and_the_broken_file_is_named(run):
    files = pl.read_parquet(run["root"] / "quarantine" / "payroll" / "country=JOR" / "files.parquet")
    by_name = {r["file"].rsplit("/", 1)[1]: r for r in files.iter_rows(named=True)}
    assert (
        by_name["payroll_canonical.csv"]["status"] == "loaded"
        and by_name["payroll_canonical.csv"]["layout"] == "canonical"
    )
    assert by_name["payroll_canonical.csv"]["rows_loaded"] == run["plants"]["jor_canonical_rows"]
    assert {r["layout"] for n, r in by_name.items() if n.endswith(".xlsx")} == {"ministry_workbook"}
    assert (
        by_name["payroll_broken.csv"]["status"] == "rejected"
        and "zip archive" in by_name["payroll_broken.csv"]["message"]
    )
    assert "REJECTED payroll/JOR/payroll_broken.csv" in run["done"].stdout


def test_a_year_with_women_only_publishes_the_men_as_not_applicable(run):
    published = run["published"]
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
    assert by_sex["SEX_F"]["obs_value"] is not None and by_sex["SEX_F"]["n_workers"] == WOMEN_ONLY_ROWS


@pytest.fixture(scope="module")
def by_country(scenario, tmp_path_factory) -> dict:
    """The scenario's publication; then Cambodia sends a month whose hours are all zero, Viet Nam its next month,
    and a payroll file arrives in a folder named after no country code."""
    root = copy_root(scenario["root"], tmp_path_factory.mktemp("by-country") / "data")
    raw = root / "raw"
    khm = pl.read_csv(raw / "payroll" / "KHM" / "payroll_2025-12.csv", infer_schema=False)
    khm.with_columns(
        pl.lit("2027-01").alias("period"), pl.lit("0").alias("regular_hours"), pl.lit("0").alias("overtime_hours")
    ).write_csv(raw / "payroll" / "KHM" / "payroll_2027-01.csv")
    vnm = pl.read_csv(sorted((raw / "payroll" / "VNM").glob("*.csv"))[-1], infer_schema=False)
    vnm.with_columns(pl.lit("2026-01").alias("Kỳ lương")).write_csv(raw / "payroll" / "VNM" / "payroll_2026-01.csv")
    # Haiti's first delivery of a new year: four women of one factory (below the thresholds), no men
    factory = pl.read_csv(next((raw / "factories" / "HTI").glob("*.csv")), infer_schema=False)["ID"][0]
    women = [
        f"{factory},2026-01,H{i},HT-2026-{i:04d},Worker {i},F,1992-01-01,2024-03-01,sewing_operator,open_ended,"
        f"monthly,26,208,6,{14000 + 100 * i},600,500,0,0,700,15100,HTG,bank"
        for i in range(TINY_WOMEN)
    ]
    (raw / "payroll" / "HTI" / "payroll_2026-01.csv").write_text(
        PAYROLL_HEADER + "\n" + "\n".join(women) + "\n", encoding="utf-8"
    )
    stray = raw / "payroll" / "Cambodia"
    stray.mkdir()
    (stray / "payroll.csv").write_bytes(CORPUS_PAYROLL.read_bytes())
    second = decentwork(root, "run", key=KEY, env={"DECENTWORK_DATA_DOCS": "off"})
    return {
        "root": root,
        "before": scenario["published"],
        "second": second,
        "after": pl.read_parquet(root / "marts" / "indicators.parquet"),
    }


def test_a_tiny_one_sex_new_year_publishes_and_withholds_nothing_else(by_country):
    """Haiti's January of a new year, four women of one factory: every cell of it below the thresholds. The men are
    not applicable whatever the women's status, no gate fails, and Haiti's earlier year publishes as before."""
    after, before = by_country["after"], by_country["before"]
    assert (
        "HTI"
        not in json.loads((by_country["root"] / "disclosure" / "report.json").read_text())["countries_kept_previous"]
    )
    new_year = after.filter(pl.col("ref_area") == "HTI", pl.col("time") == 2026)
    payroll = set(new_year.filter(pl.col("sex") == "SEX_M")["indicator"])  # the sex-disaggregated payroll indicators
    assert {"EAR_MEAN_HOURLY", "HOW_OT_MEAN", "MINW_BELOW_RT"} <= payroll
    new_year = new_year.filter(pl.col("indicator").is_in(payroll))
    by_sex = new_year.group_by("sex").agg(pl.col("obs_status").unique())
    statuses = {r["sex"]: set(r["obs_status"]) for r in by_sex.iter_rows(named=True)}
    assert statuses["SEX_M"] == {"M"} and statuses["SEX_F"] == {"C"} and statuses["SEX_T"] == {"C"}, statuses
    men = new_year.filter(pl.col("sex") == "SEX_M")
    assert men["obs_value"].null_count() == men.height and set(men["n_workers"]) == {0}
    assert new_year.filter(pl.col("sex") != "SEX_M")["n_workers"].null_count() == new_year.height - men.height
    earlier = pl.col("ref_area").eq("HTI") & pl.col("time").lt(2026)
    assert after.filter(earlier).height > 0
    assert after.filter(earlier).sort(KEY_COLUMNS).equals(before.filter(earlier).sort(KEY_COLUMNS))


def test_a_country_year_failing_a_gate_withholds_that_year_only(by_country):
    """Cambodia's 2027 fails a gate (no hourly earnings): 2027 is withheld (never published before: nothing of it
    shows), Cambodia's other years publish, Viet Nam's new month publishes."""
    second, before, after = by_country["second"], by_country["before"], by_country["after"]
    assert second.returncode == 1, second.stdout[-3000:] + second.stderr[-3000:]
    assert "ERROR KHM 2027 keeps its previous publication" in second.stdout and "headline indicator" in second.stdout
    assert "ERROR KHM keeps" not in second.stdout
    khm = pl.col("ref_area") == "KHM"
    assert 2027 not in after.filter(khm)["time"].to_list()
    assert not after.filter(pl.col("time") == 2027).height  # Cambodia was the only country of 2027: no X_BW either
    # the years without a new delivery come out as before; 2026, refreshed beside Viet Nam's and Haiti's new months,
    # is published again with the same cells
    for_2025 = khm & (pl.col("time") == 2025)
    assert after.filter(for_2025).sort(KEY_COLUMNS).equals(before.filter(for_2025).sort(KEY_COLUMNS))
    in_2026 = khm & (pl.col("time") == 2026)
    assert (
        after.filter(in_2026)
        .select(KEY_COLUMNS)
        .sort(KEY_COLUMNS)
        .equals(before.filter(in_2026).select(KEY_COLUMNS).sort(KEY_COLUMNS))
    )
    assert after.filter(in_2026, pl.col("obs_value").is_not_null()).height > 0
    assert 2026 in after.filter(pl.col("ref_area") == "VNM")["time"].to_list()  # Viet Nam's new month is out


def test_the_pooled_cells_cover_what_publishes_and_say_so(by_country):
    after, second = by_country["after"], by_country["second"]
    publishing = sorted(COUNTRIES)
    assert f"X_BW pools {', '.join(publishing)}; previous publication kept for KHM 2027" in second.stdout

    def cell(area, year):
        rows = after.filter(
            pl.col("ref_area") == area,
            pl.col("indicator") == "EAR_MEAN_HOURLY",
            pl.col("sex") == "SEX_T",
            pl.col("classif1") == "CUR_TYPE_PPP",
            pl.col("time") == year,
        )
        return rows.row(0, named=True) if rows.height else None

    from assets.warehouse import read_built

    cells = read_built(by_country["root"] / "warehouse.duckdb", "intermediate", "int_indicator_cells")

    def before_control(area, year):
        return cells.filter(
            pl.col("ref_area") == area,
            pl.col("indicator") == "EAR_MEAN_HOURLY",
            pl.col("sex") == "SEX_T",
            pl.col("classif1") == "CUR_TYPE_PPP",
            pl.col("time") == year,
        )["n_workers"].item()

    assert cells.filter(pl.col("time") == 2027).is_empty()  # the failing country-year is out of the cells
    for year in (2025, 2026):
        pooled = cell("X_BW", year)
        named = pooled["coverage"].removeprefix("pools ").split(";")[0].split(", ")
        assert set(named) <= set(publishing), named
        # X_BW counts the named countries' workers (a suppressed country's count is the sum of its sexes' counts
        # before control, from the warehouse: a small one-sex year is suppressed)
        counts = [cell(c, year)["n_workers"] for c in named]
        assert pooled["n_workers"] == sum(
            n if n is not None else before_control(c, year) for c, n in zip(named, counts, strict=True)
        )
    check = json.loads((by_country["root"] / "marts" / "quality" / "last_check.json").read_text())
    assert check["disclosure"]["pooled_countries"] == publishing
    assert list(check["disclosure"]["countries_kept_previous"]) == ["KHM 2027"]


def test_a_folder_that_is_no_country_code_is_named_and_not_loaded(by_country):
    second, root = by_country["second"], by_country["root"]
    assert (
        "ERROR raw/payroll/Cambodia: not a programme country code, nothing in it is loaded. Fix: rename the folder"
        in second.stdout
    )
    staged = pl.concat(
        [pl.read_parquet(p, columns=["_source_file"]) for p in (root / "staging").glob("*/country=*/*.parquet")]
    )
    assert not staged.filter(pl.col("_source_file").str.contains("Cambodia")).height
    assert not list((root / "staging").glob("*/country=Cambodia"))


def test_no_run_prints_the_key(run, by_country):
    from decentwork.settings import DEV_PSEUDONYM_KEY

    for done in (run["done"], by_country["second"]):
        assert KEY not in done.stdout + done.stderr and DEV_PSEUDONYM_KEY not in done.stdout + done.stderr
