"""Resources: the dbt project and the dbt command line Dagster drives."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource
from packaging import version

from assets.dbt_project import dbt_executable, dbt_project


class DbtCli(DbtCliResource):
    """dagster-dbt's resource without two costs it adds to every dbt command (dagster-dbt 0.29):

    - `dbt --version` in a child process (about 4 s: dbt's imports, and three requests to pypi.org for the
      latest releases) to learn dbt's version: the dbt next to this interpreter belongs to this environment,
      so its package metadata says (any other dbt is still asked);
    - dbt's adapter and macros loaded inside Dagster's process (about 3 s), used only to fetch column
      metadata or row counts on request (`fetch_column_metadata`, `fetch_row_counts`), which we never make;
      dagster-dbt runs on without an adapter (`adapter=None`), as it does when loading one fails.

    Both are private hooks of dagster-dbt; tests/test_definitions.py fails if an upgrade stops calling them."""

    @property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).parent != Path(sys.executable).parent:  # another dbt: ask it
            return super()._cli_version
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002
        return None


def dbt_resource() -> DbtCli:
    return DbtCli(project_dir=dbt_project, dbt_executable=dbt_executable())
