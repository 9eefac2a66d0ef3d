"""Publish the marts: export the warehouse's `marts` schema, check it, then swap it into data/marts/.

Every table of schema `marts` becomes `<table>.parquet` and `<table>.csv`; the long `indicators`
table also `indicators.sdmx.csv` (SDMX-CSV 2.0) with its structure; `marts.duckdb` holds the
published tables only (no staging or worker-level table), for researchers' read-only queries.

The export is written to `data/marts/.candidate/` first and checked by the quality gates
(assets/quality.py); only when they pass is each file moved over the published one with an
atomic rename, so a reader (or a run killed half-way) never sees a half-written publication, and
a failing check leaves the previous publication in place.
"""

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from assets.transform import mart_asset_keys
from decentwork.settings import paths

PUBLISHED_SCHEMA = "marts"
CANDIDATE = ".candidate"
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


def export_candidate(warehouse: Path, candidate: Path) -> dict[str, int]:
    """Write every published table of the warehouse into `candidate` (emptied first)."""
    shutil.rmtree(candidate, ignore_errors=True)
    candidate.mkdir(parents=True)
    counts = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in published_tables(con):
            con.execute(f"copy (select * from {PUBLISHED_SCHEMA}.{table}) to '{candidate / table}.parquet' (format parquet, compression zstd)")
            con.execute(f"copy ({_csv_safe_select(con, table)}) to '{candidate / table}.csv' (format csv, header true)")
            counts[table] = con.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{table}").fetchone()[0]
    _write_marts_db(candidate, counts)
    _write_sdmx(candidate)
    return counts


def _write_marts_db(candidate: Path, tables: dict[str, int]) -> None:
    with duckdb.connect(str(candidate / MARTS_DB)) as con:
        for table in tables:
            con.execute(f"create table {table} as select * from read_parquet('{candidate / table}.parquet')")


def _write_sdmx(candidate: Path) -> None:
    try:
        from assets import sdmx
    except ImportError:  # the SDMX export is optional until its module lands
        return
    import polars as pl

    indicators = candidate / "indicators.parquet"
    if indicators.exists():
        sdmx.write_sdmx_csv(pl.read_parquet(indicators), candidate / "indicators.sdmx.csv")
        sdmx.write_structure(candidate / "indicators.sdmx-structure.xml")


def _quality(candidate: Path, out: Path) -> dict:
    try:
        from assets.quality import validate_publication
    except ImportError:
        return {"success": True, "errors": [], "warnings": ["quality gates not installed"]}
    previous = out if (out / "indicators.parquet").exists() else None
    report = validate_publication(candidate, previous, out / QUALITY_DIR)
    return {"success": report.success, "errors": list(report.errors), "warnings": list(report.warnings)}


def publish(warehouse: Path, out: Path) -> tuple[dict[str, int], dict]:
    """Export, check and swap in. Raises PublicationRefused (previous publication untouched) on errors."""
    out.mkdir(parents=True, exist_ok=True)
    candidate = out / CANDIDATE
    counts = export_candidate(warehouse, candidate)
    quality = _quality(candidate, out)
    (out / QUALITY_DIR).mkdir(exist_ok=True)
    (out / QUALITY_DIR / "last_check.json").write_text(json.dumps(quality, indent=1), encoding="utf-8")
    if not quality["success"]:
        raise PublicationRefused("quality gates failed, previous publication kept: " + "; ".join(quality["errors"][:10]))
    for item in sorted(candidate.iterdir()):
        os.replace(item, out / item.name)
    candidate.rmdir()
    return counts, quality


@dg.asset(
    deps=mart_asset_keys(),
    group_name="publication",
    kinds={"parquet", "csv", "duckdb"},
    pool="warehouse",
    description="Every published mart as data/marts/<table>.parquet and .csv (+ SDMX-CSV, marts.duckdb), after the quality gates.",
)
def published_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    p = paths()
    counts, quality = publish(p.warehouse, p.marts)
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
