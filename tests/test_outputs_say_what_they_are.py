"""What users read says what it is (issue 21): commands refuse what they cannot answer, every code and column has a
label and a definition in the outputs themselves, pooled gaps mean what they say.

On the session's scenario sample (tests/scenario.py), published once (tests/conftest.py: `scenario`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from schemas.codes import DIMENSION_COLUMNS, code_table
from tests.conftest import decentwork
from tests.scenario import copy_root

KEY = ["ref_area", "indicator", "sex", "classif1", "time"]


@pytest.fixture(scope="module")
def run(scenario) -> dict:
    return scenario


def cli(run: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DECENTWORK_DATA_DIR": str(run["root"])}
    return subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), *args], env=env, capture_output=True, text=True, timeout=300
    )


# -------------------------------------------------------------------------- every command refuses what it cannot answer


@pytest.mark.parametrize(
    "args, named",
    [
        (["--country", "KHX"], "KHX"),
        (["--country", "KHM", "XYZ"], "XYZ"),
        (["--indicator", "GPG_MEAN"], "GPG_MEAN"),
        (["--sex", "SEX_X"], "SEX_X"),
        (["--sex", "F"], "F"),
        (["--country", ""], "--country"),
    ],
)
def test_an_unknown_code_is_an_error_that_lists_the_valid_ones(run, args, named):
    done = cli(run, "indicators", *args)
    assert done.returncode == 2, (args, done.stdout[-300:], done.stderr)
    assert named in done.stderr and "use one of" in done.stderr and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, said",
    [
        (["--year", "1999"], "the publication holds"),
        (["--country", "EGY"], "nothing published for ref_area EGY"),  # a programme country without deliveries
        (["--country", "KHM", "--year", "2025", "2031"], "2031"),
    ],
)
def test_a_valid_question_the_publication_cannot_answer_is_an_error_not_an_empty_file(run, args, said):
    done = cli(run, "indicators", *args)
    assert done.returncode == 2 and said in done.stderr and done.stdout == "", (args, done.stderr)


def test_codes_are_case_insensitive_everywhere(run):
    upper = cli(run, "indicators", "--country", "KHM", "--sex", "SEX_F", "--indicator", "EAR_MEAN_HOURLY")
    lower = cli(run, "indicators", "--country", "khm", "--sex", "sex_f", "--indicator", "ear_mean_hourly")
    mixed = cli(run, "indicators", "--country", " Khm ", "--sex", "Sex_F", "--indicator", "Ear_Mean_Hourly")
    assert upper.returncode == lower.returncode == mixed.returncode == 0, lower.stderr + mixed.stderr
    assert upper.stdout == lower.stdout == mixed.stdout and upper.stdout.count("\n") > 1
    status = cli(run, "status", "--country", "khm")
    assert status.returncode == 0 and status.stdout.startswith("KHM:"), status.stderr


@pytest.mark.parametrize("out", ["missing-folder/khm.csv", "missing/deeper/khm.parquet", "."])
def test_an_output_that_cannot_be_written_is_a_one_line_error(run, tmp_path, out):
    fmt = "parquet" if out.endswith(".parquet") else "csv"
    done = cli(run, "indicators", "--country", "KHM", "--format", fmt, "--out", str(tmp_path / out))
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, (
        done.stderr
    )
    assert "cannot write" in done.stderr


def test_help_points_to_the_codes_and_the_tables(run):
    indicators = cli(run, "indicators", "--help").stdout
    assert "decentwork codes" in indicators and "case-insensitive" in indicators
    query = cli(run, "query", "--help").stdout
    for table in (
        "indicators",
        "codes",
        "country_wages",
        "cross_country_gender_gaps",
        "factory_compliance",
        "low_compliance",
    ):
        assert table in query
    codes = cli(run, "codes", "sex")
    assert codes.returncode == 0 and "SEX_F" in codes.stdout and "Female" in codes.stdout
    assert cli(run, "codes", "nonsense").returncode == 2


def test_every_published_code_has_a_label_and_a_definition(run):
    """The codes table (published, and `decentwork codes`) names every code the long table uses; none is its own
    label; the published one equals the reference lists."""
    published = pl.read_parquet(run["root"] / "marts" / "codes.parquet")
    assert published.equals(code_table())
    indicators = pl.read_parquet(run["root"] / "marts" / "indicators.parquet")
    for dimension, column in DIMENSION_COLUMNS.items():
        defined = published.filter(pl.col("dimension") == dimension)
        used = set(indicators[column].drop_nulls().unique())
        assert used <= set(defined["code"]), (dimension, used - set(defined["code"]))
        assert (defined["label"].str.len_chars() > 0).all() and (defined["definition"].str.len_chars() > 0).all()
        if dimension not in ("UNIT_MEASURE",):
            assert (defined["label"] != defined["code"]).all(), defined.filter(pl.col("label") == pl.col("code"))
    for prefix in ("OCU_", "CLU_", "CP_", "YIP_", "CUR_TYPE_"):
        assert published.filter(pl.col("code").str.starts_with(prefix)).height > 0, prefix
    yip = published.filter(pl.col("code") == "YIP_4PLUS").row(0, named=True)
    assert (
        "years in the programme" in yip["label"].lower()
        and "enrolment" in published.filter(pl.col("code") == "YIP_0")["definition"].item()
    )
    status = dict(published.filter(pl.col("dimension") == "OBS_STATUS").select("code", "definition").iter_rows())
    assert "exists but is not published" in status["C"]


def test_every_column_has_its_description_in_marts_duckdb_and_the_parquet_files(run):
    marts = run["root"] / "marts"
    with duckdb.connect(str(marts / "marts.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables() where not internal").fetchall()]
        columns = con.execute(
            "select table_name, column_name, comment from duckdb_columns() where not internal"
        ).fetchall()
        table_comments = dict(
            con.execute("select table_name, comment from duckdb_tables() where not internal").fetchall()
        )
    assert "codes" in tables and len(tables) >= 13
    undocumented = [(t, c) for t, c, comment in columns if not comment]
    assert not undocumented, undocumented[:10]
    assert all(table_comments[t] for t in tables), table_comments
    for table in tables:
        schema = pq.read_schema(marts / f"{table}.parquet")
        assert schema.metadata and schema.metadata[b"description"], table
        missing = [f.name for f in schema if not (f.metadata or {}).get(b"description")]
        assert not missing, (table, missing)


def test_wide_marts_keep_each_values_status(run):
    marts = run["root"] / "marts"
    long = pl.read_parquet(marts / "indicators.parquet")
    for path in sorted(marts.glob("*_gender_gaps.parquet")) + sorted(marts.glob("*_wages.parquet")):
        wide = pl.read_parquet(path)
        values = [c for c in wide.columns if c not in ("ref_area", "time", "sex") and not c.endswith("_status")]
        assert values and all(f"{c}_status" in wide.columns for c in values), path.name
    gaps = pl.read_parquet(marts / "cross_country_gender_gaps.parquet")
    confidential = long.filter(
        pl.col("indicator") == "GPG_MEAN_HOURLY", pl.col("classif1") == "_Z", pl.col("obs_status") == "C"
    )
    for area, year in confidential.select("ref_area", "time").iter_rows():
        row = gaps.filter(pl.col("ref_area") == area, pl.col("time") == year)
        assert row["gpg_mean_hourly"].item() is None and row["gpg_mean_hourly_status"].item() == "C"
    normal = gaps.filter(pl.col("gpg_mean_hourly").is_not_null())
    assert normal.height and set(normal["gpg_mean_hourly_status"].to_list()) <= {None, "U", "P"}


# --------------------------------------------------------------------------- pooled gaps that mean what they say


def test_pooled_gaps_lie_between_the_national_gaps_they_average(run):
    """Every published X_BW raw gap (overall, by occupation, by years in the programme) and median gap is the
    employment-weighted average of the published national gaps, so it lies between the smallest and the largest."""
    long = pl.read_parquet(run["root"] / "marts" / "indicators.parquet")
    gaps = long.filter(
        pl.col("indicator").is_in(["GPG_MEAN_HOURLY", "GPG_MEDIAN_HOURLY"]), pl.col("obs_value").is_not_null()
    )
    pooled = gaps.filter(pl.col("ref_area") == "X_BW")
    assert pooled.height >= 5
    for row in pooled.iter_rows(named=True):
        named = re.findall(r"\b([A-Z]{3}) \(\d+ workers\)", row["coverage"])
        national = gaps.filter(
            pl.col("ref_area").is_in(named),
            pl.col("indicator") == row["indicator"],
            pl.col("classif1") == row["classif1"],
            pl.col("time") == row["time"],
        )
        # every published national gap of the countries X_BW pools that year (Viet Nam's 2025 has fewer months)
        left_out = gaps.filter(
            ~pl.col("ref_area").is_in([*named, "X_BW"]),
            pl.col("indicator") == row["indicator"],
            pl.col("classif1") == row["classif1"],
            pl.col("time") == row["time"],
        )
        assert set(left_out["ref_area"]) <= {"VNM"}
        assert national.height == len(named) > 0, (row, named)
        weights, values = national["n_workers"].to_list(), national["obs_value"].to_list()
        expected = sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)
        assert min(values) - 0.05 <= row["obs_value"] <= max(values) + 0.05, row
        assert abs(row["obs_value"] - expected) <= 0.05 + 1e-9 and row["n_workers"] == sum(weights), (row, expected)
        assert all(area in row["coverage"] for area in national["ref_area"]), row["coverage"]


# --------------------------------------------------------------------------- partner reports and run summary


def test_the_run_summary_says_what_this_delivery_did(run):
    said = run["done"].stdout
    assert "this delivery (files new or changed since the last load):" in said and "all deliveries:" in said


def test_partners_get_their_reports_as_csv_without_personal_values(run):
    root = run["root"]
    reasons = sorted((root / "quarantine").glob("*/country=*/quarantine_reasons.csv"))
    assert reasons and all(
        (r.parent / "files.csv").exists() and (r.parent / "quarantine_summary.csv").exists() for r in reasons
    )
    staged_ids = set()
    for path in (root / "staging" / "payroll").glob("country=*/*.parquet"):
        staged_ids |= set(pl.read_parquet(path, columns=["worker_pid"])["worker_pid"].cast(pl.String).to_list())
    text = "".join(r.read_text(encoding="utf-8-sig") for r in reasons)
    assert not any(pid in text for pid in list(staged_ids)[:2000])


def test_dbt_docs_generate_documents_the_published_columns(run, tmp_path):
    root = copy_root(run["root"], tmp_path / "data")  # dbt opens the warehouse to document it: not the shared one
    done = decentwork(root, "dbt-docs")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    catalog = json.loads((root / "dbt" / "docs" / "catalog.json").read_text(encoding="utf-8"))
    manifest = json.loads((root / "dbt" / "docs" / "manifest.json").read_text(encoding="utf-8"))
    indicators = next(
        n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == "indicators"
    )
    assert indicators["columns"]["coverage"]["description"] and indicators["columns"]["months_covered"]["description"]
    assert any(key.endswith(".indicators") for key in catalog["nodes"])
