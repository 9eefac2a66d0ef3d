"""End to end: the session's scenario sample (tests/scenario.py) run through `decentwork run` into a temporary
data root; the published indicators checked against an independent computation from the raw files, and the
commands a researcher types checked on that publication."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from decentwork.sample import MANIFEST
from tests.scenario import COUNTRIES, SIZE
from tests.test_indicators_independent import within_precision

CANONICAL_COUNTRIES = ("BGD", "KHM")  # delivered in canonical form: readable here without the mappings


@pytest.fixture(scope="module")
def run(scenario) -> dict:
    """The session's one run of the scenario sample (45 factories, about 6,000 workers, 3 months and two new-year
    months)."""
    return scenario


def _indicators(run: dict) -> pl.DataFrame:
    return pl.read_parquet(run["root"] / "marts" / "indicators.parquet")


def test_run_succeeds_and_publishes_five_countries(run):
    done = run["done"]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "indicators:" in done.stdout
    ind = _indicators(run)
    assert set(ind["ref_area"]) == {*COUNTRIES, "X_BW"}
    assert (run["root"] / "marts" / "indicators.csv").exists()
    topics = {"EAR_MEAN_HOURLY", "GPG_MEAN_HOURLY", "NC_CLUSTER_RT", "UNION_MEMBER_RT", "SS_REGISTERED_RT"}
    assert topics <= set(ind["indicator"])
    assert set(ind["sex"]) == {"SEX_T", "SEX_F", "SEX_M"}


def _quarantine(root: Path) -> pl.DataFrame:
    files = sorted((root / "quarantine").glob("*/country=*/quarantine.parquet"))
    return pl.concat([pl.read_parquet(f, columns=["_source_file", "_source_row", "reason"]) for f in files])


def test_every_planted_bad_row_is_quarantined_never_staged(run):
    root, manifest = run["root"], run["manifest"]
    assert manifest["bad_rows"], "the sample plants bad rows"
    quarantined = {(r["_source_file"], r["_source_row"]): r["reason"] for r in _quarantine(root).iter_rows(named=True)}
    missing = [b for b in manifest["bad_rows"] if (b["file"], b["row"]) not in quarantined]
    assert not missing, missing
    staged = pl.concat(
        [
            pl.read_parquet(f, columns=["_source_file", "_source_row"])
            for f in (root / "staging").glob("*/country=*/*.parquet")
        ]
    )
    bad = pl.DataFrame([{"_source_file": b["file"], "_source_row": b["row"]} for b in manifest["bad_rows"]])
    assert staged.join(bad, on=["_source_file", "_source_row"]).height == 0


def test_corrections_supersede_and_duplicate_files_load_nothing(run):
    root, manifest = run["root"], run["manifest"]
    quarantined = {(r["_source_file"], r["_source_row"]): r["reason"] for r in _quarantine(root).iter_rows(named=True)}
    assert manifest["superseded_rows"]
    for row in manifest["superseded_rows"]:
        assert quarantined[(row["file"], row["row"])].startswith(f"superseded by {row['by']}")
    reports = pl.concat([pl.read_parquet(f) for f in (root / "quarantine").glob("*/country=*/files.parquet")])
    for name in manifest["duplicate_files"]:
        assert reports.filter(pl.col("file") == name)["status"].to_list() == ["duplicate"]


def _raw_payroll(root: Path, manifest: dict, country: str) -> pl.DataFrame:
    """Payroll rows as delivered, minus the rows the manifest says must not load (read independently of ingestion)."""
    excluded = {(b["file"], b["row"]) for b in manifest["bad_rows"]} | {
        (s["file"], s["row"]) for s in manifest["superseded_rows"]
    }
    frames = []
    for path in sorted((root / "raw" / "payroll" / country).glob("*.csv")):
        rel = f"payroll/{country}/{path.name}"
        if rel in manifest["duplicate_files"]:
            continue
        frame = pl.read_csv(path, infer_schema=False).with_row_index("row", offset=2)
        keep = [(rel, r) not in excluded for r in frame["row"].to_list()]
        frames.append(frame.filter(pl.Series(keep)))
    raw = pl.concat(frames)
    money = ["basic_pay", "overtime_pay", "allowances", "bonuses", "regular_hours", "overtime_hours"]
    return raw.with_columns(pl.col(money).cast(pl.Float64)).with_columns(
        (
            (pl.col("basic_pay") + pl.col("overtime_pay") + pl.col("allowances") + pl.col("bonuses"))
            / (pl.col("regular_hours") + pl.col("overtime_hours"))
        ).alias("hourly"),
        pl.col("period").str.slice(0, 4).cast(pl.Int32).alias("time"),
    )


@pytest.mark.parametrize("country", CANONICAL_COUNTRIES)
def test_mean_hourly_earnings_and_gap_agree_with_an_independent_computation(run, country):
    raw = _raw_payroll(run["root"], run["manifest"], country)
    ind = _indicators(run).filter(pl.col("ref_area") == country, pl.col("obs_value").is_not_null())
    by_sex = {
        (r["time"], f"SEX_{r['sex']}"): r["hourly"]
        for r in raw.group_by("time", "sex").agg(pl.col("hourly").mean()).iter_rows(named=True)
    }
    by_sex |= {
        (r["time"], "SEX_T"): r["hourly"]
        for r in raw.group_by("time").agg(pl.col("hourly").mean()).iter_rows(named=True)
    }
    years = raw["time"].n_unique()
    published = ind.filter(pl.col("indicator") == "EAR_MEAN_HOURLY", pl.col("classif1") == "CUR_TYPE_LCU")
    assert published.height == 3 * years  # both sexes and the total, every year delivered
    for r in published.iter_rows(named=True):
        assert within_precision(r["obs_value"], by_sex[(r["time"], r["sex"])], "LCU")
    gaps = ind.filter(pl.col("indicator") == "GPG_MEAN_HOURLY", pl.col("classif1") == "_Z")
    assert gaps.height == years
    for r in gaps.iter_rows(named=True):
        men, women = by_sex[(r["time"], "SEX_M")], by_sex[(r["time"], "SEX_F")]
        assert within_precision(r["obs_value"], 100 * (men - women) / men, "PCT")


def test_planted_structure_is_found(run):
    """The generator plants a gap that narrows with years in the programme; the marts must show it."""
    ind = _indicators(run).filter(pl.col("indicator") == "GPG_MEAN_HOURLY", pl.col("obs_value").is_not_null())
    yip = (
        ind.filter(pl.col("classif1").is_in(["YIP_0", "YIP_4PLUS"]))
        .group_by("classif1")
        .agg(pl.col("obs_value").mean())
    )
    values = dict(yip.iter_rows())
    assert values["YIP_0"] > values["YIP_4PLUS"]


def test_manifest_written_beside_the_extracts(run):
    manifest = json.loads((run["root"] / "raw" / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["params"]["factories"] == SIZE["factories"] and manifest["plants"]


def _cli(run: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DECENTWORK_DATA_DIR": str(run["root"])}
    return subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_indicators_command_filters_the_published_table(run):
    done = _cli(run, "indicators", "--country", "KHM", "--indicator", "GPG_MEAN_HOURLY", "--year", "2025")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("ref_area,indicator,sex,classif1,time,obs_value")
    assert len(lines) > 1 and all(line.startswith("KHM,GPG_MEAN_HOURLY,SEX_T,") for line in lines[1:])


def test_query_command_sees_marts_only_and_cannot_write(run):
    done = _cli(run, "query", "select table_name from information_schema.tables order by 1", "--format", "csv")
    assert done.returncode == 0, done.stderr
    tables = set(done.stdout.split()[1:])
    assert {"indicators", "country_wages", "cross_country_wages", "factory_compliance", "low_compliance"} <= tables
    assert not any(t.startswith(("stg_", "int_")) for t in tables)
    refused = _cli(run, "query", "create table x as select 1")
    assert refused.returncode != 0 and "read-only" in refused.stderr


def test_query_command_reads_every_published_mart_confined(run):
    from assets.published import query_published_marts

    marts = run["root"] / "marts" / "marts.duckdb"
    tables = query_published_marts(marts, "select table_name from information_schema.tables")["table_name"].to_list()
    assert len(tables) >= 12
    for table in tables:
        assert query_published_marts(marts, f"select count(*) as n from {table}")["n"].item() > 0, table


def test_published_sdmx_csv_reads_back_through_sdmx1_into_pandas_as_the_published_indicators(run):
    """sdmx1, the standard reader, loads the published SDMX-CSV against its structure into pandas: every observation
    of the long table, values exact (suppressed ones NaN) and statuses intact."""
    import math

    import sdmx

    from assets.sdmx import DATAFLOW

    marts = run["root"] / "marts"
    dataflow = sdmx.read_sdmx(marts / "indicators.sdmx-structure.xml").dataflow[DATAFLOW]
    table = sdmx.to_pandas(
        sdmx.read_sdmx(marts / "indicators.sdmx.csv", structure=dataflow), attributes="o"
    ).reset_index()
    got = {
        (r["REF_AREA"], r["INDICATOR"], r["SEX"], r["CLASSIF1"], int(r["TIME_PERIOD"])): r
        for r in table.to_dict("records")
    }
    ind = _indicators(run)
    assert len(got) == len(table) == ind.height
    for row in ind.iter_rows(named=True):
        obs = got[(row["ref_area"], row["indicator"], row["sex"], row["classif1"], row["time"])]
        if row["obs_value"] is None:
            assert math.isnan(obs["value"]), row
        else:
            assert obs["value"] == row["obs_value"], row  # exact, not approximately
        assert obs["OBS_STATUS"] == (row["obs_status"] or ""), row  # sdmx1's "" is an attribute without a value
        assert obs["UNIT_MEASURE"] == row["unit"]
    assert {r["OBS_STATUS"] for r in got.values()} >= {"", "C"}


def test_indicators_command_writes_sdmx_with_its_structure(run, tmp_path):
    from assets.sdmx import read_sdmx_csv

    out = tmp_path / "khm.csv"
    done = _cli(run, "indicators", "--country", "KHM", "--sex", "SEX_F", "--format", "sdmx", "--out", str(out))
    assert done.returncode == 0, done.stderr
    back = read_sdmx_csv(out, tmp_path / "khm.structure.xml")
    expected = _indicators(run).filter((pl.col("ref_area") == "KHM") & (pl.col("sex") == "SEX_F"))
    assert back.height == expected.height > 0
    assert set(back["REF_AREA"]) == {"KHM"} and set(back["SEX"]) == {"SEX_F"}
    streamed = _cli(run, "indicators", "--country", "KHM", "--format", "sdmx")
    assert streamed.returncode == 0 and streamed.stdout.startswith("STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA")
    structure = Path(streamed.stderr.strip().rsplit(" written to ", 1)[1])  # the terminal names the structure file
    assert structure.read_bytes() == (tmp_path / "khm.structure.xml").read_bytes()


def test_status_command_lists_loaded_countries(run):
    done = _cli(run, "status")
    assert done.returncode == 0, done.stderr
    for country in ("BGD", "KHM", "VNM", "IDN", "JOR"):
        assert country in done.stdout
    said = done.stdout + done.stderr
    assert re.search(r"run [0-9a-f]{8} SUCCESS \(all countries", said), said
    assert "failing checks:" in said and "last quality check: passed" in said


def test_no_identifier_reaches_a_published_file_or_the_run_log(run):
    """National ids, worker names and pseudonyms stay in ingestion: scan every published byte and the log."""
    root = run["root"]
    raw = pl.read_csv(next((root / "raw" / "payroll" / "KHM").glob("*.csv")), infer_schema=False)
    ids = set(raw["national_id"].to_list()[:300])
    names = set(raw["worker_name"].to_list()[:300])
    pids = set(
        pl.read_parquet(next((root / "staging" / "payroll").glob("country=KHM/*.parquet")), columns=["worker_pid"])[
            "worker_pid"
        ]
        .head(300)
        .to_list()
    )
    published = [f for f in (root / "marts").rglob("*") if f.is_file()]
    assert published
    texts = [f.read_bytes().decode("utf-8", errors="ignore") for f in published] + [
        run["done"].stdout + run["done"].stderr
    ]
    for text in texts:
        assert not any(i in text for i in ids)
        assert not any(n in text for n in names)
        assert not any(p in text for p in pids)


# Worker-level data lives in these parts of a data root only (the restricted zone); everything else (the
# publication, Dagster's run and event storage, dbt's logs and artifacts, build records) must hold no trace.
RESTRICTED = ("raw", "staging", "quarantine", ".ingest-work", ".ingest-cache")


def test_no_worker_trace_in_the_data_root_outside_ingestion(run):
    """Issue 18: scan every byte of the data root outside raw, staging, quarantine and the warehouse, plus the
    run's output and `status`, for the pseudonyms, national ids, employee numbers and names of the run. The sample
    plants a conflicting duplicate key, whose reason once quoted the worker's pseudonym into run metadata."""
    import re

    root = run["root"]
    quarantine = pl.concat(
        [pl.read_parquet(f).select("reason") for f in (root / "quarantine").rglob("quarantine.parquet")]
    )
    assert quarantine.filter(pl.col("reason").str.starts_with("duplicate key")).height > 0, (
        "the sample must plant a duplicate key"
    )
    pseudonyms: set[str] = set()
    for f in list((root / "staging").rglob("*.parquet")) + list((root / "quarantine").rglob("quarantine.parquet")):
        for column in (c for c in pl.read_parquet_schema(f) if c.endswith("_pid")):
            pseudonyms |= set(pl.read_parquet(f, columns=[column])[column].drop_nulls().to_list())
    assert len(pseudonyms) > 1000
    personal: set[str] = set()
    for f in (root / "raw").rglob("*.csv"):
        raw = pl.read_csv(f, infer_schema=False, truncate_ragged_lines=True, ignore_errors=True)
        for column in ("national_id", "worker_name", "employee_no", "respondent_id", "First Name", "Last Name"):
            if column in raw.columns:
                personal |= {
                    v for v in raw[column].drop_nulls().to_list() if len(v) >= 6
                }  # short values occur by chance
    assert len(personal) > 1000
    targets = {v.encode() for v in pseudonyms | personal}
    token = re.compile(rb"[A-Za-z0-9'.-]+")

    def traces(data: bytes) -> set[str]:
        """Targets in `data`: every token and every run of two or three tokens (names), compared as a set."""
        tokens = token.findall(data)
        runs = set(tokens) | {b" ".join(tokens[i : i + k]) for k in (2, 3) for i in range(len(tokens) - k + 1)}
        return {v.decode() for v in runs & targets}

    scanned, leaks = 0, []
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root)
        if not f.is_file() or rel.parts[0] in RESTRICTED or rel.name.startswith("warehouse.duckdb"):
            continue
        scanned += 1
        found = traces(f.read_bytes())
        leaks += [f"{rel}: {sorted(found)[:3]}"] if found else []
    assert scanned > 50 and any("dagster" in str(f) for f in root.iterdir())
    said = run["done"].stdout + run["done"].stderr + _cli(run, "status", "--detail").stdout
    leaks += [f"command output: {v}" for v in traces(said.encode())]
    assert not leaks, leaks


def _published(run, country, indicator, classif1="_Z"):
    ind = _indicators(run).filter(
        pl.col("ref_area") == country,
        pl.col("indicator") == indicator,
        pl.col("classif1") == classif1,
        pl.col("obs_value").is_not_null(),
    )
    return {(r["time"], r["sex"]): r["obs_value"] for r in ind.iter_rows(named=True)}


def _by_sex(frame: pl.DataFrame, value: pl.Expr) -> dict:
    out = {
        (r["time"], f"SEX_{r['sex']}"): r["v"]
        for r in frame.group_by("time", "sex").agg(value.alias("v")).iter_rows(named=True)
    }
    return out | {
        (r["time"], "SEX_T"): r["v"] for r in frame.group_by("time").agg(value.alias("v")).iter_rows(named=True)
    }


def _agree(published: dict, expected: dict, unit: str) -> None:
    """Published values agree with the independent ones within their published precision."""
    assert published, "nothing published to compare"
    for key, value in published.items():
        assert within_precision(value, expected[key], unit), (key, value, expected[key])


@pytest.mark.parametrize("country", CANONICAL_COUNTRIES)
def test_more_wage_indicators_agree_with_an_independent_computation(run, country):
    raw = _raw_payroll(run["root"], run["manifest"], country)
    _agree(
        _published(run, country, "EAR_MEDIAN_HOURLY", "CUR_TYPE_LCU"), _by_sex(raw, pl.col("hourly").median()), "LCU"
    )
    _agree(_published(run, country, "HOW_OT_MEAN"), _by_sex(raw, pl.col("overtime_hours").mean()), "HOURS")
    _agree(
        _published(run, country, "EAR_DIGITAL_RT"),
        _by_sex(raw, pl.col("payment_method").is_in(["bank", "mobile"]).mean() * 100),
        "PCT",
    )
    workers = raw.select("time", "national_id", "sex").unique()
    share = workers.group_by("time").agg((pl.col("sex") == "F").mean() * 100)
    _agree(_published(run, country, "FEMALE_SHARE_WORKFORCE"), {(t, "SEX_T"): v for t, v in share.iter_rows()}, "PCT")


@pytest.mark.parametrize("country", CANONICAL_COUNTRIES)
def test_survey_and_compliance_indicators_agree_with_an_independent_computation(run, country):
    root, manifest = run["root"], run["manifest"]
    bad = {(b["file"], b["row"]) for b in manifest["bad_rows"]}
    rel = f"worker_survey/{country}/worker_survey.csv"
    survey = pl.read_csv(root / "raw" / rel, infer_schema=False).with_row_index("row", offset=2)
    survey = survey.filter(pl.Series([(rel, r) not in bad for r in survey["row"].to_list()])).with_columns(
        pl.col("survey_date").str.slice(0, 4).cast(pl.Int32).alias("time"),
        pl.col("union_member").cast(pl.Int64).replace({-98: None, -99: None}).alias("union"),
    )
    _agree(_published(run, country, "UNION_MEMBER_RT"), _by_sex(survey, pl.col("union").mean() * 100), "PCT")

    rel = f"assessments/{country}/assessments_export.csv"
    findings = pl.read_csv(root / "raw" / rel, infer_schema=False).with_row_index("row", offset=2)
    findings = findings.filter(pl.Series([(rel, r) not in bad for r in findings["row"].to_list()])).with_columns(
        pl.col("Assesment Start Date").str.slice(6, 4).cast(pl.Int32).alias("time"), pl.col("Quest ID").cast(pl.Int64)
    )
    latest = findings.group_by("Factory Assessed ID", "time").agg(pl.col("Quest ID").max())
    osh = (
        findings.join(latest, on=["Factory Assessed ID", "time", "Quest ID"])
        .filter(
            pl.col("Question type") == "NCQ", pl.col("Cluster").is_in(["Occupational Safety and Health", "Systems"])
        )
        .group_by("Factory Assessed ID", "time")
        .agg((pl.col("Finding") == "1").any().alias("nc"))
        .group_by("time")
        .agg(pl.col("nc").mean() * 100)
    )
    _agree(_published(run, country, "NC_CLUSTER_RT", "CLU_OSH"), {(t, "SEX_T"): v for t, v in osh.iter_rows()}, "PCT")
