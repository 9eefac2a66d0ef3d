"""The same dbt project on Apache Spark (issue 7): switching targets is one variable, and the Spark build
publishes the indicators the DuckDB build publishes.

The sample is the small one of test_crash_safety (its clean DuckDB run is the reference, shared within a
session). Its staged Parquet is built by `dbt build` on the `spark` target (a local Spark session from PyPI's
pyspark, Java 17+: every model and data test; the unit tests too in the `scale` test below, which runs the
whole `DECENTWORK_DBT_TARGET=spark decentwork run`, then the unit tests on its warehouse), then published by
the same export code from the Parquet tables Spark wrote. Every published table must hold the same rows as the
DuckDB build's, values equal to 1e-9 (float sums differ in their last bits between engines).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets.dbt_models import MARTS
from assets.disclosure.asset import control_warehouse
from assets.publish import publish
from tests.test_crash_safety import KEY, fresh_root, reference_run
from tests.test_dbt_unit_coverage import assert_every_unit_test_passed, run_dbt_unit_tests

MODELS = Path(__file__).resolve().parent.parent / "dbt_project" / "models"

# Functions one engine has and the other spells differently (or lacks): allowed in macros only.
ENGINE_SPECIFIC = re.compile(
    r"\b(quantile\w*|percentile\w*|median|approx_\w+|regexp_\w+|date_sub|date_add|date_diff|datediff|date_trunc|"
    r"strftime|strptime|months_between|to_date|list_\w+|struct_\w+|array_\w+|read_parquet|read_csv\w*|epoch\w*|"
    r"try_cast|string_agg|group_concat|arg_max|arg_min|any_value|nvl|ifnull|iif)\s*\(|::|\bqualify\b|\bexclude\s*\(|"
    r"\bcast\([^)]*\bas\s+varchar\b|\btrim\([^()]*,",
    re.IGNORECASE,
)


def test_no_model_has_engine_specific_sql_outside_a_macro():
    found = []
    for path in sorted(MODELS.rglob("*.sql")):
        sql = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", path.read_text(encoding="utf-8"), flags=re.S)
        sql = re.sub(r"--[^\n]*", " ", sql)
        found += [f"{path.relative_to(MODELS)}: {m.group(0)}" for m in ENGINE_SPECIFIC.finditer(sql)]
    assert found == [], found


def test_the_lint_catches_engine_specific_sql():
    assert ENGINE_SPECIFIC.search("select quantile_cont(x, 0.5) from t")
    assert ENGINE_SPECIFIC.search("select regexp_replace(a, 'x', 'y', 'g')")
    assert ENGINE_SPECIFIC.search("select a::int") and ENGINE_SPECIFIC.search("cast(a as varchar)")
    assert ENGINE_SPECIFIC.search("trim(a, '_')") and not ENGINE_SPECIFIC.search("trim(a)")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return reference_run(tmp_path_factory)


def _java() -> None:
    if not shutil.which("java"):
        pytest.fail("the Spark target needs Java 17+ on PATH (apt install openjdk-17-jre-headless)")


@pytest.fixture(scope="module")
def spark_build(reference: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The reference run's staged Parquet built by dbt on Spark (the cells, disclosure control by the asset's
    function on Spark's tables, then the marts), published by the export code of the published_marts asset
    (the ingestion before it is engine-free and already ran in the reference). dbt runs in this process, as in a
    refresh (assets/dbt_runner.py): both builds share one Spark session."""
    from assets.dbt_runner import invoke

    _java()
    root = tmp_path_factory.mktemp("spark") / "data"
    shutil.copytree(reference["root"] / "staging", root / "staging")
    env = {"DECENTWORK_DATA_DIR": str(root), "DECENTWORK_DBT_TARGET": "spark"}
    cells = invoke(["build", "--exclude", "test_type:unit", MARTS], root / "dbt", env)
    assert cells.success, cells.problems
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DECENTWORK_DBT_TARGET", "spark")
        mp.setenv("DECENTWORK_DATA_DIR", str(root))
        control_warehouse()
        marts = invoke(["build", "--select", MARTS, "--exclude", "test_type:unit"], root / "dbt", env)
        assert marts.success, marts.problems
        publish(root / "warehouse.duckdb", root / "marts", root / "staging")
    return {"root": root, "results": cells.results + marts.results}


@pytest.mark.spark  # a dbt build on Spark, 5 to 9 minutes here: `make test-spark` (not in CI: its 25-minute budget)
def test_the_marts_were_built_on_spark(spark_build):
    tested = [r for r in spark_build["results"] if r["info"]["name"] == "LogTestResult"]
    assert len(tested) > 50 and all(r["data"]["status"] == "pass" for r in tested)  # every data test ran on Spark
    built = spark_build["root"] / "spark" / "warehouse" / "marts.db"
    assert (built / "indicators").is_dir() and not (spark_build["root"] / "warehouse.duckdb").exists()


def _same_publication(duck: Path, spark: Path) -> None:
    tables = sorted(p.name for p in duck.glob("*.parquet"))
    assert "indicators.parquet" in tables and len(tables) >= 12
    assert sorted(p.name for p in spark.glob("*.parquet")) == tables
    for name in tables:
        a, b = pl.read_parquet(duck / name), pl.read_parquet(spark / name)
        # the small sample has too few factories in KHM for any to lie two standard deviations below their mean (the
        # list's arithmetic on Spark: the dbt unit test of low_compliance, run on Spark by the `scale` test below)
        assert a.height > 0 or name == "low_compliance.parquet", name
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
    indicators = pl.read_parquet(spark / "indicators.parquet")
    assert indicators["indicator"].n_unique() == 28 and indicators["obs_value"].is_not_null().sum() > 500
    medians = indicators.filter(pl.col("indicator") == "EAR_MEDIAN_HOURLY", pl.col("obs_value").is_not_null())
    assert medians.height > 10  # medians by the same definition (interpolated) on both engines


@pytest.mark.spark
def test_spark_publishes_the_marts_duckdb_publishes(spark_build, reference):
    _same_publication(reference["root"] / "marts", spark_build["root"] / "marts")


@pytest.mark.scale
def test_decentwork_run_on_spark_end_to_end(reference):
    """The whole Dagster job with the one variable set: ingestion, dbt build, gates, export; then the dbt unit tests."""
    _java()
    root = fresh_root(reference, "spark-run")
    env = {
        **os.environ,
        "DECENTWORK_DATA_DIR": str(root),
        "DECENTWORK_PSEUDONYM_KEY": KEY,
        "DECENTWORK_DBT_TARGET": "spark",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), "run"], env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "--target spark" in done.stdout + done.stderr
    _same_publication(reference["root"] / "marts", root / "marts")
    assert_every_unit_test_passed(run_dbt_unit_tests(root, root.parent / "unit-tests", target="spark"))
