"""A delivery that changes some months of a country's payroll or social security rebuilds those months of its
worker-months only (issue 32). Staging records a digest of each month's staged rows in the staged file
(assets/ingestion/stage.py: period_digests); a build compares them with those of the last successful build
(assets/dbt_models.py: countries_to_rebuild) and hands the months to dbt (macros/incremental.sql).

Attacked here: each kind of change to a delivery must change exactly the digests of the months it changes (a
correction, a row quarantined, a duplicate delivery, a withdrawn file, another key); the plan must fall back to the
whole country, or the whole warehouse, on any change it cannot confine to months. That the plan reaches dbt's SQL is
tests/test_pooled_parts.py's (test_the_months_condition_in_the_compiled_sql, on the scenario's warehouse), and that a
refresh by month gives the full rebuild's tables, when a late month moves earlier months' registration status,
tests/test_operations.py's (test_national_refresh_rebuilds_only_its_country_and_matches_a_full_rebuild).
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from assets.dbt_models import (
    _record_build,
    build_inputs,
    countries_to_rebuild,
    describe_plan,
    plan_variables,
)
from assets.ingestion.ingest import ingest
from assets.ingestion.stage import PERIOD_DIGESTS, row_hash, staged_period_digests
from decentwork.settings import Paths
from tests.conftest import PAYROLL_HEADER, REGISTER_HEADER, deliver

KEY = b"test-key-of-the-build-plan-tests"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
REGISTER = REGISTER_HEADER + "\n101,Alpha,KH,Phnom Penh,15/03/2019,Active,5,4,1,Woven\n"
IDS = [f"KH-{n:03d}" for n in range(1, 5)]


def payroll_row(period: str, nid: str, basic: str = "204") -> str:
    return (
        f"101,{period},E{nid[-3:]},{nid},Name {nid},F,1995-01-02,2020-01-01,sewing_operator,open_ended,monthly,26,"
        f"208,20,{basic},30,19,0,0,4,249,USD,bank"
    )


def month(period: str, rows: list[str] | None = None) -> str:
    return PAYROLL_HEADER + "\n" + "\n".join(rows or [payroll_row(period, nid) for nid in IDS]) + "\n"


# --- the digests staging records --------------------------------------------------------------------------------


@pytest.fixture
def staged(data_root):
    """A register and three monthly payroll files, loaded."""
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER, mtime=1_700_000_000)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None, now=NOW)
    for m in (1, 2, 3):
        deliver(data_root, "payroll", "KHM", f"m{m}.csv", month(f"2025-0{m}"), mtime=1_700_000_000 + 100 * m)
    return data_root


def digests(paths: Paths, key: bytes = KEY) -> dict[str, str]:
    ingest("payroll", "KHM", paths, key, log=lambda m: None, now=NOW)
    return staged_period_digests(paths.staged_file("payroll", "KHM"))


def test_the_digests_are_those_of_the_staged_rows(staged):
    """Recomputed from the staged file itself, not from the validated parts less the key rules' losers as staging
    computes them: a quarantined row and a superseded one must not count."""
    deliver(staged, "payroll", "KHM", "bad.csv", month("", [payroll_row("2025-01", "KH-888", "-5")]), 1_700_001_000)
    deliver(staged, "payroll", "KHM", "fix.csv", month("", [payroll_row("2025-02", IDS[0], "205")]), 1_700_001_100)
    found = digests(staged)
    rows = pl.read_parquet(staged.staged_file("payroll", "KHM")).with_columns(row_hash("payroll"))
    sums = rows.group_by("period").agg(
        pl.len().alias("n"),
        (pl.col("_row_hash") % 2**32).sum().alias("low"),
        (pl.col("_row_hash") // 2**32).sum().alias("high"),
    )
    assert found == {r["period"]: f"{r['n']}-{r['low']:x}-{r['high']:x}" for r in sums.iter_rows(named=True)}
    assert int(found["2025-02"].split("-")[0]) == len(IDS), "the corrected row replaces the first, it is not added"
    assert set(found) == {"2025-01", "2025-02", "2025-03"}
    assert staged_period_digests(staged.staged_file("factories", "KHM")) is None, "the register has no months"


@pytest.mark.parametrize(
    "change, months",
    [
        ("a correction of one worker's February pay in a later file", {"2025-02"}),
        ("a February worker added in a later file", {"2025-02"}),
        ("February withdrawn", {"2025-02"}),
        ("a new month", {"2025-04"}),
        ("January delivered again, identical, under another name", set()),
        ("a January row quarantined in a new file", set()),
        ("the files touched, the same bytes", set()),
        ("another key", {"2025-01", "2025-02", "2025-03"}),
    ],
)
def test_a_delivery_changes_the_digests_of_the_months_it_changes(staged, change, months):
    before = digests(staged)
    key = KEY
    raw = staged.raw_dir("payroll", "KHM")
    if change.startswith("a correction"):
        deliver(staged, "payroll", "KHM", "fix.csv", month("", [payroll_row("2025-02", IDS[0], "205")]), 1_700_001_000)
    elif change.startswith("a February worker added"):
        deliver(staged, "payroll", "KHM", "add.csv", month("", [payroll_row("2025-02", "KH-777")]), 1_700_001_000)
    elif change == "February withdrawn":
        (raw / "m2.csv").unlink()
    elif change == "a new month":
        deliver(staged, "payroll", "KHM", "m4.csv", month("2025-04"), 1_700_001_000)
    elif change.startswith("January delivered again"):
        deliver(staged, "payroll", "KHM", "m1-again.csv", (raw / "m1.csv").read_text(), 1_700_001_000)
    elif change.startswith("a January row quarantined"):
        deliver(staged, "payroll", "KHM", "bad.csv", month("", [payroll_row("2025-01", "KH-888", "-5")]), 1_700_001_000)
    elif change.startswith("the files touched"):
        for f in raw.iterdir():
            f.touch()
    elif change == "another key":
        key = b"another-key-of-the-build-plan-tests"
    after = digests(staged, key)
    changed = {m for m in set(before) | set(after) if before.get(m) != after.get(m)}
    assert changed == months, change


# --- the plan ---------------------------------------------------------------------------------------------------


def stage(paths: Paths, source: str, country: str, periods: dict[str, str] | None, rows: int = 1) -> None:
    """A staged file with the given period digests in its footer (written by hand: the plan reads only them and the
    file's size and time)."""
    target = paths.staged_file(source, country)
    target.parent.mkdir(parents=True, exist_ok=True)
    metadata = None if periods is None else {PERIOD_DIGESTS: json.dumps(periods)}
    pl.DataFrame({"n": list(range(rows))}).write_parquet(target, metadata=metadata)


MONTHS = {"2025-01": "a", "2025-02": "b"}


@pytest.fixture
def built(tmp_path):
    """Two countries staged and a successful build recorded."""
    paths = Paths(tmp_path / "data")
    for country in ("KHM", "VNM"):
        stage(paths, "factories", country, None)
        stage(paths, "payroll", country, MONTHS)
        stage(paths, "social_security", country, MONTHS)
    paths.warehouse.write_bytes(b"")
    _record_build(paths, build_inputs(paths))
    return paths


@pytest.mark.parametrize(
    "change, plan",
    [
        ("nothing", {}),
        ("a payroll month changed", {"KHM": ["2025-02"]}),
        ("a payroll month added", {"KHM": ["2025-03"]}),
        ("a payroll month withdrawn", {"KHM": ["2025-01"]}),
        ("a social-security month changed", {"KHM": ["2025-01"]}),
        ("months of both sources changed", {"KHM": ["2025-01", "2025-02"]}),
        ("the payroll rewritten with the same months", {"KHM": []}),
        ("the register changed", {"KHM": None}),
        ("a register and a month changed", {"KHM": None}),
        ("the payroll staged without digests", {"KHM": None}),
        ("a month that is not YYYY-MM", {"KHM": None}),
        ("the social security withdrawn", {"KHM": None}),
        ("a new source", {"KHM": None}),
        ("a new country", {"HTI": None}),
        ("a country gone", None),
        ("every country changed by month", {"KHM": ["2025-02"], "VNM": ["2025-02"]}),
        ("every country changed, one whole", {"KHM": None, "VNM": ["2025-02"]}),
        ("every country changed whole", None),
        ("a staged folder not named by an ISO3 code", None),
        ("no record of a build", None),
        ("another dbt project", None),
    ],
)
def test_the_plan_rebuilds_months_only_when_the_change_is_confined_to_months(built, change, plan):
    p = built
    if change == "a payroll month changed":
        stage(p, "payroll", "KHM", MONTHS | {"2025-02": "b2"}, rows=2)
    elif change == "a payroll month added":
        stage(p, "payroll", "KHM", MONTHS | {"2025-03": "c"}, rows=2)
    elif change == "a payroll month withdrawn":
        stage(p, "payroll", "KHM", {"2025-02": "b"}, rows=2)
    elif change == "a social-security month changed":
        stage(p, "social_security", "KHM", MONTHS | {"2025-01": "a2"}, rows=2)
    elif change == "months of both sources changed":
        stage(p, "payroll", "KHM", MONTHS | {"2025-02": "b2"}, rows=2)
        stage(p, "social_security", "KHM", MONTHS | {"2025-01": "a2"}, rows=2)
    elif change == "the payroll rewritten with the same months":
        stage(p, "payroll", "KHM", MONTHS, rows=2)
    elif change == "the register changed":
        stage(p, "factories", "KHM", None, rows=2)
    elif change == "a register and a month changed":
        stage(p, "factories", "KHM", None, rows=2)
        stage(p, "payroll", "KHM", MONTHS | {"2025-02": "b2"}, rows=2)
    elif change == "the payroll staged without digests":
        stage(p, "payroll", "KHM", None, rows=2)
    elif change == "a month that is not YYYY-MM":
        stage(p, "payroll", "KHM", MONTHS | {"2025-02') or (1 = 1": "x"}, rows=2)
    elif change == "the social security withdrawn":
        p.staged_file("social_security", "KHM").unlink()
    elif change == "a new source":
        stage(p, "worker_survey", "KHM", None)
    elif change == "a new country":
        stage(p, "factories", "HTI", None)
    elif change == "a country gone":
        for source in ("factories", "payroll", "social_security"):
            p.staged_file(source, "VNM").unlink()
    elif change == "every country changed by month":
        for country in ("KHM", "VNM"):
            stage(p, "payroll", country, MONTHS | {"2025-02": "b2"}, rows=2)
    elif change == "every country changed, one whole":
        stage(p, "factories", "KHM", None, rows=2)
        stage(p, "payroll", "VNM", MONTHS | {"2025-02": "b2"}, rows=2)
    elif change == "every country changed whole":
        for country in ("KHM", "VNM"):
            stage(p, "factories", country, None, rows=2)
    elif change == "a staged folder not named by an ISO3 code":
        stage(p, "payroll", "KHM') or (1 = 1", MONTHS)
    elif change == "no record of a build":
        p.build_state.unlink()
    elif change == "another dbt project":
        state = json.loads(p.build_state.read_text())
        p.build_state.write_text(json.dumps(state | {"project": "another"}))
    assert countries_to_rebuild(p, build_inputs(p)) == plan


def test_the_plan_reaches_dbt_in_its_environment():
    plan = {"KHM": ["2025-12", "2026-01"], "VNM": None, "HTI": []}
    assert plan_variables(plan) == {
        "DECENTWORK_REFRESH_COUNTRIES": "KHM,VNM,HTI",
        "DECENTWORK_REFRESH_MONTHS": "KHM=2025-12 2026-01,HTI=",
    }
    assert plan_variables(None) == {"DECENTWORK_REFRESH_COUNTRIES": None, "DECENTWORK_REFRESH_MONTHS": None}
    assert describe_plan(plan) == "KHM (months 2025-12, 2026-01), VNM, HTI (no month)"
    assert describe_plan({}) == "no country"
