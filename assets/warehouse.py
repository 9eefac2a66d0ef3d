"""Reading what dbt built, read-only: the DuckDB warehouse, or on the Spark target the Parquet folders of its
tables (Paths.spark_warehouse). Only dbt writes the warehouse (spec/architecture.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from decentwork.settings import Paths, dbt_target


@contextmanager
def open_built(warehouse: Path, schema: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection where `<schema>.<table>` reads every table dbt built in `schema`."""
    if dbt_target() != "spark":
        with duckdb.connect(str(warehouse), read_only=True) as con:
            yield con
        return
    built = Paths(warehouse.parent).spark_warehouse / f"{schema}.db"
    if not built.is_dir():
        raise FileNotFoundError(
            f"no Spark-built {schema} tables under {built}: did the dbt build on the spark target run?"
        )
    with duckdb.connect() as con:
        con.execute(f"create schema {schema}")
        for folder in sorted(f for f in built.iterdir() if f.is_dir()):
            con.execute(f"create view {schema}.{folder.name} as select * from read_parquet('{folder}/*.parquet')")
        yield con


def read_built(warehouse: Path, schema: str, table: str) -> pl.DataFrame:
    with open_built(warehouse, schema) as con:
        return con.sql(f"select * from {schema}.{table}").pl()
