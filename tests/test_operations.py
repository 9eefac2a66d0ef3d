"""Operations (issue 4): a national refresh touches only its country, the quality gates guard the
publication, and the pipeline's checks and Data Docs are there after a run.

The session's scenario sample is published in full (tests/scenario.py); on a copy of it a new KHM payroll delivery
arrives and only KHM is refreshed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from decentwork.settings import SOURCES, Paths
from tests.conftest import decentwork
from tests.scenario import KEY, copy_root, warehouse_tables
from tests.test_pooled_parts import COUNTRY_SLICED

REFRESHED = "KHM"
POOLED = "X_BW"
COUNTRY_COLUMNS = ("ref_area", "country")


def _file_digests(folder: Path, pattern: str) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.glob(pattern))
        if f.is_file()
    }


def _published(marts: Path) -> dict[str, pl.DataFrame]:
    return {f.stem: pl.read_parquet(f) for f in sorted(marts.glob("*.parquet"))}


def _rows_outside(frame: pl.DataFrame, countries: set[str]) -> pl.DataFrame | None:
    """The table's rows of every other country, in a fixed order; None if it has no country column."""
    column = next((c for c in COUNTRY_COLUMNS if c in frame.columns), None)
    if column is None:
        return None
    rest = frame.filter(~pl.col(column).is_in(sorted(countries)))
    return rest.sort(rest.columns, nulls_last=True)


def _deliver_khm_resubmission(raw: Path) -> Path:
    """KHM re-sends December's payroll with basic pay 5% higher: a later delivery that supersedes it."""
    original = raw / "payroll" / REFRESHED / "payroll_2025-12.csv"
    frame = pl.read_csv(original, infer_schema=False)
    frame = frame.with_columns((pl.col("basic_pay").cast(pl.Float64) * 1.05).round(2).cast(pl.String))
    target = original.with_name("payroll_2025-12_resubmission.csv")
    frame.write_csv(target)
    newest = max(f.stat().st_mtime for f in original.parent.iterdir())
    os.utime(target, (newest + 60, newest + 60))
    return target


LATE_RETURNS = "2026-01"  # the month of social-security returns delivered late with this refresh
EARLIER_REGISTRATION = "2025-10-01"


def _deliver_khm_late_returns(raw: Path) -> dict[str, int]:
    """KHM's January 2026 returns arrive (the scenario's January payroll had none): December's returns again for
    January, and returns for every worker of December's payroll who had none in 2025, registered on 1 October 2025.
    Those workers' October to December 2025 months then count as registered: rows outside the refreshed months
    change, which a refresh rebuilding only the months delivered must still get right."""
    folder = raw / "social_security" / REFRESHED
    december = pl.read_csv(folder / "social_security_2025-12.csv", infer_schema=False)
    returned = pl.concat(
        [pl.read_csv(f, infer_schema=False) for f in sorted(folder.glob("social_security_2025-*.csv"))]
    )
    known = set(returned["national_id"].str.replace_all(" ", ""))
    payroll = pl.read_csv(raw / "payroll" / REFRESHED / "payroll_2025-12.csv", infer_schema=False)
    unregistered = payroll.filter(~pl.col("national_id").str.replace_all(" ", "").is_in(sorted(known)))
    assert unregistered.height > 0, "the scenario has payroll workers without social security"
    first = december.row(0, named=True)
    newcomers = unregistered.select(
        "factory_id",
        "national_id",
        pl.lit(EARLIER_REGISTRATION).alias("registration_date"),
        pl.col("basic_pay").alias("insurable_wage"),
        pl.lit("1.00").alias("employer_contribution"),
        pl.lit("1.00").alias("employee_contribution"),
        pl.lit(first["scheme"]).alias("scheme"),
    )
    january = pl.concat([december.drop("period", "paid_date"), newcomers], how="diagonal").with_columns(
        pl.lit(LATE_RETURNS).alias("period"), pl.lit("2026-02-10").alias("paid_date")
    )
    january.select(december.columns).write_csv(folder / f"social_security_{LATE_RETURNS}.csv")
    return {"newcomers": unregistered.height}


@pytest.fixture(scope="module")
def refresh(scenario, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = copy_root(scenario["root"], tmp_path_factory.mktemp("operations") / "data")
    paths = Paths(root)
    before = {
        "published": _published(paths.marts),
        "staging": _file_digests(paths.staging, "*/country=*/*.parquet"),
        "staging_mtimes": {str(f): f.stat().st_mtime_ns for f in paths.staging.glob("*/country=*/*.parquet")},
        "data_docs": (paths.marts / "quality" / "index.html").exists(),
    }
    _deliver_khm_resubmission(paths.raw)
    late = _deliver_khm_late_returns(paths.raw)
    national = decentwork(root, "run", "--country", REFRESHED, key=KEY, env={"DECENTWORK_DATA_DOCS": "on"})
    assert national.returncode == 0, national.stdout[-3000:] + national.stderr[-3000:]
    return {"root": root, "paths": paths, "before": before, "national": national, "late": late}


def test_data_docs_written_under_marts_quality_after_a_run_and_only_when_asked(refresh):
    assert not refresh["before"]["data_docs"]  # the scenario's run said DECENTWORK_DATA_DOCS=off
    quality = refresh["paths"].marts / "quality"
    html = (quality / "index.html").read_text(encoding="utf-8")
    assert "errors.indicators" in html or "validations" in html
    assert json.loads((quality / "last_check.json").read_text())["success"] is True


def test_national_refresh_rereads_only_that_country(refresh):
    paths, before = refresh["paths"], refresh["before"]
    after = _file_digests(paths.staging, "*/country=*/*.parquet")
    assert after.keys() == before["staging"].keys()
    changed = {name for name in after if after[name] != before["staging"][name]}
    assert f"payroll/country={REFRESHED}/part-0.parquet" in changed
    assert all(f"/country={REFRESHED}/" in name for name in changed), changed
    rewritten = {name for name, mtime in before["staging_mtimes"].items() if Path(name).stat().st_mtime_ns != mtime}
    assert rewritten and all(f"country={REFRESHED}" in name for name in rewritten), rewritten


def test_national_refresh_leaves_other_countries_published_rows_identical(refresh):
    old, new = refresh["before"]["published"], _published(refresh["paths"].marts)
    assert old.keys() == new.keys()
    compared = 0
    for table in old:
        before_rows = _rows_outside(old[table], {REFRESHED, POOLED})
        if before_rows is None:  # the code table belongs to no country: it stays as it was
            assert table == "codes" and old[table].equals(new[table]), table
            compared += 1
            continue
        compared += 1
        after_rows = _rows_outside(new[table], {REFRESHED, POOLED})
        # low_compliance lists the factories of the programmes that publish such a list: KHM's only, by its seed
        assert before_rows.height > 0 or table == "low_compliance", table
        assert before_rows.equals(after_rows), f"{table}: rows of countries other than {REFRESHED} changed"
    assert compared == len(old), "every published table carries its country"


def test_national_refresh_did_change_the_refreshed_country(refresh):
    old, new = refresh["before"]["published"]["indicators"], _published(refresh["paths"].marts)["indicators"]
    key = ["ref_area", "indicator", "sex", "classif1", "time"]
    joined = old.filter(pl.col("ref_area") == REFRESHED).join(new, on=key, suffix="_new")
    mean_wage = joined.filter((pl.col("indicator") == "EAR_MEAN_MONTHLY") & pl.col("classif1").str.ends_with("LCU"))
    assert mean_wage.height > 0
    assert (mean_wage["obs_value_new"] > mean_wage["obs_value"]).any(), "a 5% raise in December shows in KHM's mean"


def test_national_refresh_rebuilds_only_its_country_and_matches_a_full_rebuild(refresh, tmp_path):
    """The national run rebuilt KHM's slice of the worker-level models and kept the others'; a full dbt
    rebuild from the same staged files gives the same table contents, so nothing went stale."""
    national = refresh["national"]
    months = f"2025-12', '{LATE_RETURNS}"
    planned = f"worker-level models rebuilt for KHM (months 2025-12, {LATE_RETURNS}); other countries kept"
    assert planned in national.stdout + national.stderr
    paths = refresh["paths"]
    compiled = paths.dbt_artifacts / "compiled" / "decentwork" / "models" / "intermediate"
    # the plan reached dbt (macros/incremental.sql): the worker-months of the two months delivered, the other
    # worker-level models and the per-country parts of the cells for the whole country
    for model in COUNTRY_SLICED:
        sql = (compiled / f"{model}.sql").read_text(encoding="utf-8")
        if model == "int_worker_months":
            assert f"where ((country = 'KHM' and period in ('{months}')))" in sql
            assert "where country in ('KHM')" not in sql
        else:
            assert "where country in ('KHM')" in sql, model
    incremental = warehouse_tables(paths.warehouse)
    assert incremental["intermediate.int_worker_months"], "worker-months were built"
    assert incremental["intermediate.int_worker_strata"], "worker strata were built"
    from assets.dbt_runner import invoke

    rebuild = invoke(["run", "--full-refresh"], tmp_path / "target", {"DECENTWORK_DATA_DIR": str(paths.root)})
    assert rebuild.success, rebuild.problems
    full = warehouse_tables(paths.warehouse)
    assert full.keys() == incremental.keys()
    for table in full:
        assert full[table] == incremental[table], f"{table}: the national refresh differs from a full rebuild"


def test_late_registrations_change_earlier_months_of_the_refreshed_country(refresh):
    """The late January returns registered workers from 1 October 2025 (`_deliver_khm_late_returns`): KHM's 2025
    share of registered worker-months rises although only December's payroll and January's returns were
    delivered. With the full rebuild's equality (above), this shows a refresh by month keeps rows that depend on
    other months right."""
    assert refresh["late"]["newcomers"] > 0
    old, new = refresh["before"]["published"]["indicators"], _published(refresh["paths"].marts)["indicators"]
    key = ["ref_area", "indicator", "sex", "classif1", "time"]
    registered = (
        old.filter(pl.col("ref_area") == REFRESHED, pl.col("indicator") == "SS_REGISTERED_RT", pl.col("time") == 2025)
        .join(new, on=key, suffix="_new")
        .filter(pl.col("sex") == "SEX_T")
        .drop_nulls(["obs_value", "obs_value_new"])  # a suppressed cell has no value to compare
    )
    assert registered.height > 0, "KHM's 2025 registration rate is published before and after"
    assert (registered["obs_value_new"] > registered["obs_value"]).all(), registered


def test_asset_checks_record_pandera_outcomes_and_dbt_tests(refresh):
    os.environ.setdefault("DAGSTER_HOME", str(Path(__file__).resolve().parents[1]))
    os.environ["DECENTWORK_DAGSTER_STORAGE"] = str(refresh["paths"].dagster_storage)
    with dg.DagsterInstance.from_config(str(Path(__file__).resolve().parents[1])) as instance:
        for source in SOURCES:
            for check in ("quarantine_share", "no_rejected_files"):
                key = dg.AssetCheckKey(dg.AssetKey(["staging", source]), check)
                records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
                assert records, f"no evaluation of {key}"
        payroll = dg.AssetCheckKey(dg.AssetKey(["staging", "payroll"]), "quarantine_share")
        latest = instance.event_log_storage.get_asset_check_execution_history(payroll, limit=1)[0]
        evaluation = latest.event.dagster_event.event_specific_data
        assert evaluation.metadata["countries"].value == REFRESHED
        dbt_check = dg.AssetCheckKey(dg.AssetKey(["marts", "indicators"]), "not_null_indicators_sex")
        assert instance.event_log_storage.get_asset_check_execution_history(dbt_check, limit=1)


def test_failing_error_level_expectation_keeps_the_previous_publication(refresh):
    from assets.publish import PublicationRefused, publish

    paths = refresh["paths"]
    published = _file_digests(paths.marts, "*.*")
    with duckdb.connect(str(paths.warehouse)) as con:  # a broken build: a percentage above 100
        con.execute("update marts.indicators set obs_value = 250 where unit = 'PCT' and obs_value is not null")
        assert con.execute("select count(*) from marts.indicators where obs_value = 250").fetchone()[0] > 0
    with pytest.raises(PublicationRefused):
        publish(paths.warehouse, paths.marts)
    assert _file_digests(paths.marts, "*.*") == published
    check = json.loads((paths.marts / "quality" / "last_check.json").read_text())
    assert check["success"] is False and check["errors"]
