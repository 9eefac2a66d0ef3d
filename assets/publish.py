"""Publish the marts: copy every table of the warehouse's `marts` schema to data/marts/ as Parquet and CSV."""

import os
from pathlib import Path

import dagster as dg
import duckdb

from decentwork.settings import paths

PUBLISHED_SCHEMA = "marts"

def published_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name", [PUBLISHED_SCHEMA]
    ).fetchall()
    return [r[0] for r in rows]

def _copy(con: duckdb.DuckDBPyConnection, table: str, target: Path, options: str) -> None:
    """Write beside the target and rename, so a reader never sees a half-written file."""
    tmp = target.with_name(f".{target.name}.tmp")
    con.execute(f"copy (select * from {PUBLISHED_SCHEMA}.{table}) to '{tmp}' ({options})")
    os.replace(tmp, target)

def publish(warehouse: Path, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in published_tables(con):
            _copy(con, table, out / f"{table}.parquet", "format parquet, compression zstd")
            _copy(con, table, out / f"{table}.csv", "format csv, header true")
            counts[table] = con.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{table}").fetchone()[0]
    return counts

@dg.asset(
    deps=[dg.AssetKey(["marts", "indicators"])],
    group_name="publication",
    kinds={"parquet", "csv"},
    description="Every published mart as data/marts/<table>.parquet and .csv.",
)
def published_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    p = paths()
    counts = publish(p.warehouse, p.marts)
    context.log.info(f"published {len(counts)} mart(s) to {p.marts}")
    return dg.MaterializeResult(metadata={"tables": dg.MetadataValue.json(counts), "folder": str(p.marts)})
