"""Researchers' read access to the publication: SQL on `marts.duckdb`, confined to the published marts.

`marts.duckdb` holds the published tables only (assets/publish.py writes it). A query on it runs with
DuckDB's external access disabled and its configuration locked, so SQL cannot leave the file: no file
reads (`read_csv`, `read_parquet`, `read_text`, `glob`, a path in FROM), no `ATTACH` of the warehouse,
no `COPY ... TO` or `EXPORT DATABASE`, no `INSTALL` or `LOAD` of extensions, no `SET` to undo any of
this, no Python objects of the calling process (replacement scans), and no writes (read-only).
tests/test_query_sandbox.py tries each escape.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

CONFINED = {
    "enable_external_access": False,  # files, ATTACH, COPY, EXPORT/IMPORT, INSTALL: refused
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,  # no scans of the caller's Python variables
    "lock_configuration": True,  # last: nothing above can be SET back
}


class QueryRefused(PermissionError):
    """The query tried to reach beyond the published marts, or to change them."""


def query_published_marts(database: Path, sql: str) -> pl.DataFrame | None:
    """Run `sql` on the published marts, confined (module docstring); the result, or None for a statement
    without one. Raises QueryRefused for an escape attempt, duckdb.Error for an ordinary mistake."""
    with duckdb.connect(str(database), read_only=True, config=dict(CONFINED)) as con:
        try:
            result = con.sql(sql)
            return result.pl() if result is not None else None
        except duckdb.PermissionException as exc:
            raise QueryRefused(
                f"{_first_line(exc)}. `decentwork query` reads the published marts only: no files, other databases "
                "or extensions (use `decentwork indicators` or the files in data/marts/ for exports)"
            ) from None
        except duckdb.InvalidInputException as exc:
            if "read-only" in str(exc) or "configuration has been locked" in str(exc):
                raise QueryRefused(
                    f"{_first_line(exc)}. The published marts are read-only and their settings fixed"
                ) from None
            raise


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0].rstrip(".!")
