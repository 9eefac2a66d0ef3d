"""Publish the marts: export the warehouse's `marts` schema, check it, then swap it in atomically.

Every table of schema `marts` becomes `<table>.parquet` and `<table>.csv` (rows in a fixed order, so
the same warehouse always gives the same bytes); the long `indicators` table also
`indicators.sdmx.csv` (SDMX-CSV 2.0) with its structure; `marts.duckdb` holds the published tables
only (no staging or worker-level table), for researchers' read-only queries.

A new publication is exported into a sibling folder `data/.marts.candidate-<pid>` and checked by the
quality gates (assets/quality.py). Only when they pass is it exchanged with `data/marts` in one
atomic step (Linux `renameat2(RENAME_EXCHANGE)`), so a reader, or a run killed at any point, sees
either the whole previous publication or the whole new one, never a mix. The previous publication is
kept as `data/.marts.previous`. A failing check leaves `data/marts` in place (its `quality/` folder
then reports the refused candidate). Candidate folders left by killed runs are removed by the next
publication. Where the exchange is not available (not Linux), the old folder is moved aside and the
new one moved in: two renames, never a mix, but `data/marts` is briefly absent between them.
"""

import ctypes
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from assets.transform import mart_asset_keys
from decentwork.settings import dbt_target, paths

PUBLISHED_SCHEMA = "marts"
CANDIDATE_PREFIX = ".marts.candidate-"
PREVIOUS = ".marts.previous"
MARTS_DB = "marts.duckdb"
QUALITY_DIR = "quality"


class PublicationRefused(RuntimeError):
    """An error-level quality check failed: the previous publication stays."""


def published_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name", [PUBLISHED_SCHEMA]
    ).fetchall()
    return [r[0] for r in rows]


def _csv_safe_select(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Text cells starting with = + - @ get a leading apostrophe, so a spreadsheet never runs them as formulas."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position",
        [PUBLISHED_SCHEMA, table],
    ).fetchall()
    parts = [
        f"case when regexp_matches(\"{name}\", '^[=+\\-@\\t\\r]') then '''' || \"{name}\" else \"{name}\" end as \"{name}\""
        if dtype == "VARCHAR" else f'"{name}"'
        for name, dtype in columns
    ]
    return f"select {', '.join(parts)} from {PUBLISHED_SCHEMA}.{table}"


@contextmanager
def open_built_marts(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The marts dbt built, read-only: the DuckDB warehouse, or on the Spark target the Parquet folders of
    its `marts` tables (next to the warehouse file, see Paths.spark_warehouse) as views of the same names."""
    if dbt_target() != "spark":
        with duckdb.connect(str(warehouse), read_only=True) as con:
            yield con
        return
    built = warehouse.parent / "spark" / "warehouse" / f"{PUBLISHED_SCHEMA}.db"
    if not built.is_dir():
        raise FileNotFoundError(f"no Spark-built marts under {built}: did the dbt build on the spark target run?")
    with duckdb.connect() as con:
        con.execute(f"create schema {PUBLISHED_SCHEMA}")
        for folder in sorted(f for f in built.iterdir() if f.is_dir()):
            con.execute(f"create view {PUBLISHED_SCHEMA}.{folder.name} as select * from read_parquet('{folder}/*.parquet')")
        yield con


def export_candidate(warehouse: Path, candidate: Path) -> dict[str, int]:
    """Write every published table of the warehouse into the new folder `candidate`."""
    candidate.mkdir(parents=True)
    counts = {}
    with open_built_marts(warehouse) as con:
        for table in published_tables(con):
            ordered = f"select * from {PUBLISHED_SCHEMA}.{table} order by all"
            con.execute(f"copy ({ordered}) to '{candidate / table}.parquet' (format parquet, compression zstd)")
            con.execute(f"copy ({_csv_safe_select(con, table)} order by all) to '{candidate / table}.csv' (format csv, header true)")
            counts[table] = con.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{table}").fetchone()[0]
    _write_marts_db(candidate, counts)
    _write_sdmx(candidate)
    return counts


def _write_marts_db(candidate: Path, tables: dict[str, int]) -> None:
    with duckdb.connect(str(candidate / MARTS_DB)) as con:
        for table in tables:
            con.execute(f"create table {table} as select * from read_parquet('{candidate / table}.parquet') order by all")


def _write_sdmx(candidate: Path) -> None:
    import polars as pl

    from assets import sdmx

    indicators = candidate / "indicators.parquet"
    if indicators.exists():
        frame = pl.read_parquet(indicators)
        sdmx.write_sdmx_csv(frame, candidate / "indicators.sdmx.csv")
        sdmx.write_structure(candidate / "indicators.sdmx-structure.xml", frame)


def _quality(candidate: Path, previous: Path | None, staging: Path | None) -> dict:
    try:
        from assets.quality import validate_publication
    except ImportError:
        return {"success": True, "errors": [], "warnings": ["quality gates not installed"]}
    if previous is not None and not (previous / "indicators.parquet").exists():
        previous = None
    report = validate_publication(candidate, previous, candidate / QUALITY_DIR, staging_dir=staging)
    return {"success": report.success, "errors": list(report.errors), "warnings": list(report.warnings)}


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(a))


def _rename(source: Path, target: Path) -> None:
    os.replace(source, target)


def _swap_in(candidate: Path, out: Path) -> None:
    """Make `candidate` the publication at `out`; the one it replaces becomes `.marts.previous`."""
    previous = out.with_name(PREVIOUS)
    if not out.exists():
        _rename(candidate, out)
        return
    if _exchange(candidate, out):  # candidate now holds the old publication
        shutil.rmtree(previous, ignore_errors=True)
        _rename(candidate, previous)
        return
    shutil.rmtree(previous, ignore_errors=True)
    _rename(out, previous)
    _rename(candidate, out)


def publish(warehouse: Path, out: Path, staging: Path | None = None) -> tuple[dict[str, int], dict]:
    """Export, check and swap in. Raises PublicationRefused (the previous publication untouched) on errors."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(CANDIDATE_PREFIX + "*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    if not out.exists() and out.with_name(PREVIOUS).is_dir():  # killed between the two renames of the fallback
        _rename(out.with_name(PREVIOUS), out)
    candidate = out.with_name(f"{CANDIDATE_PREFIX}{os.getpid()}")
    counts = export_candidate(warehouse, candidate)
    (candidate / ".gitkeep").touch()  # the repository tracks data/marts/.gitkeep
    quality = _quality(candidate, out if out.exists() else None, staging)
    (candidate / QUALITY_DIR).mkdir(exist_ok=True)
    (candidate / QUALITY_DIR / "last_check.json").write_text(json.dumps(quality, indent=1), encoding="utf-8")
    if not quality["success"]:
        if out.exists():  # report the refusal where users look, beside the publication it kept
            shutil.rmtree(out / QUALITY_DIR, ignore_errors=True)
            shutil.copytree(candidate / QUALITY_DIR, out / QUALITY_DIR)
        shutil.rmtree(candidate, ignore_errors=True)
        raise PublicationRefused("quality gates failed, previous publication kept: " + "; ".join(quality["errors"][:10]))
    _swap_in(candidate, out)
    return counts, quality


@dg.asset(
    deps=mart_asset_keys(),
    group_name="publication",
    kinds={"parquet", "csv", "duckdb"},
    pool="warehouse",
    description="Every published mart as data/marts/<table>.parquet and .csv (+ SDMX-CSV, marts.duckdb), after the quality gates; data/marts switches atomically.",
)
def published_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    p = paths()
    counts, quality = publish(p.warehouse, p.marts, p.staging)
    for warning in quality["warnings"]:
        context.log.warning(f"quality: {warning}")
    context.log.info(f"published {len(counts)} mart(s) to {p.marts}")
    return dg.MaterializeResult(
        metadata={
            "tables": dg.MetadataValue.json(counts),
            "folder": str(p.marts),
            "quality_warnings": len(quality["warnings"]),
        }
    )
