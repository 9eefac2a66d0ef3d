"""The dbt project: where it is, which `dbt` runs it, which of its files a parse or a build reads, and the pool
that queues everything writing the warehouse. Kept apart from the dbt assets (assets/dbt_models.py), which need
the parsed manifest to load, and light (no dbt or Dagster import): the command line asks here before any manifest
exists, and before it imports anything heavy."""

from __future__ import annotations

import sys
from pathlib import Path

from decentwork.settings import DBT_PROJECT_DIR

WAREHOUSE_POOL = "warehouse"  # DuckDB has one writer: everything writing the warehouse queues here
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests")
PROJECT_SETTINGS = ("dbt_project.yml", "profiles.yml")


def dbt_executable() -> str:
    """The `dbt` next to the running interpreter: schedulers start us without an activated venv."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def project_files() -> list[Path]:
    """Every file of the dbt project a parse or a build reads (models, macros, seeds, tests, settings), sorted."""
    files = [DBT_PROJECT_DIR / name for name in PROJECT_SETTINGS if (DBT_PROJECT_DIR / name).exists()]
    return files + sorted(f for folder in PROJECT_FOLDERS for f in (DBT_PROJECT_DIR / folder).rglob("*") if f.is_file())
