"""dbt in this process (dbt's `dbtRunner`), rather than a `dbt` child process per build.

A child process paid dbt's imports and a parse of the project every time: about 5 s before its first model, twice a
refresh (the warehouse models, then the marts after disclosure control), three times when a country fails a gate.
Here dbt's imports are paid once per process (the test suite, which runs refreshes in its own process, pays them
once), and every invocation loads the project from one parse state (`_project_args`).

The dbt invocations of one process run one at a time (dbt keeps its flags and adapters in module state). The
results come back as dbt's structured log events, the same dictionaries `dbt --log-format json` prints, which
dagster-dbt turns into materializations and asset checks (`build_events`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from decentwork.settings import DBT_PROJECT_DIR

RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
FAILED = {"error", "fail", "runtime error"}  # a node's status in dbt's run results
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
_LOCK = threading.RLock()  # dbt keeps its flags and adapters in module state: one invocation at a time


class DbtFailed(RuntimeError):
    """A dbt invocation failed: its message names every failed node with dbt's reason."""


@dataclass
class DbtInvocation:
    success: bool
    results: list[dict] = field(default_factory=list)  # structured result events of the nodes, in finishing order
    problems: list[str] = field(default_factory=list)  # one line per failed node, or dbt's own error

    def raise_on_failure(self, what: str) -> None:
        if not self.success:
            raise DbtFailed(f"{what} failed: " + "; ".join(self.problems or ["dbt gave no reason"]))


@contextlib.contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Each name set to its value (removed when None) inside the block, then restored: dbt's macros read them."""
    before = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _project_args(artifacts: Path) -> list[str]:
    """Where the project is and where this invocation's artifacts and logs go. dbt loads the project from the parse
    state `decentwork dbt-parse` keeps in dbt_project/target/ (the same for every data root: the project names none),
    which takes a fraction of a second when nothing changed; the profile's target comes from DECENTWORK_DBT_TARGET,
    as in that parse, so the state stays valid."""
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(artifacts),
        "--log-path",
        str(artifacts),
        "--partial-parse-file-path",
        str(DBT_PROJECT_DIR / "target" / PARTIAL_PARSE_FILE),
        *([] if sys.stdout.isatty() else ["--no-use-colors"]),
    ]


def _release_warehouse() -> None:
    """dbt-duckdb keeps its DuckDB database in a class attribute after an invocation; close it, so that this
    process can open the warehouse again (read-only, or from another dbt invocation)."""
    with contextlib.suppress(ImportError):
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        with DuckDBConnectionManager._LOCK:
            if DuckDBConnectionManager._ENV is not None:
                DuckDBConnectionManager._ENV.close()
                DuckDBConnectionManager._ENV = None


def invoke(args: list[str], artifacts: Path, env: Mapping[str, str | None] | None = None) -> DbtInvocation:
    """Run `dbt <args>` here, with artifacts and logs in `artifacts` and `env` set while it runs."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    results: list[dict] = []

    def collect(event) -> None:  # called from dbt's worker threads
        if event.info.name in RESULT_EVENTS:
            results.append(msg_to_dict(event))

    with _LOCK, _environment(env or {}):
        try:
            # no manifest handed over: compiling marks a manifest's nodes (ephemeral models' CTEs as injected) and
            # dbt's Manifest does not copy faithfully, so each invocation loads its own from the parse state
            runner = dbtRunner(callbacks=[collect])
            # no manifest.json or run_results.json per build (1.4 MB each time; the parse is in dbt_project/target),
            # and dbt's file log at info level (debug wrote every statement: 9 MB a refresh)
            done = runner.invoke([*args, *_project_args(artifacts), "--no-write-json", "--log-level-file", "info"])
        finally:
            _release_warehouse()
    problems = [
        f"{result.node.name}: {result.status}: {' '.join(str(result.message or '').split())}"
        for result in getattr(done.result, "results", None) or []
        if str(result.status).lower() in FAILED
    ]
    if not done.success and not problems:  # dbt itself failed (the project, the profile, the connection)
        problems = [f"{type(done.exception).__name__}: {done.exception}" if done.exception else "dbt failed"]
    return DbtInvocation(success=done.success, results=results, problems=problems)


def build_events(
    context: dg.AssetExecutionContext, args: list[str], artifacts: Path, env: Mapping[str, str | None] | None = None
) -> Iterator[Any]:
    """`dbt build <args>` of the nodes this step of a @dbt_assets definition selected, as Dagster events: an
    output for every model and seed built, an asset check result for every data test. Raises DbtFailed after the
    events of what succeeded."""
    from dagster_dbt.asset_utils import (
        DAGSTER_DBT_EXCLUDE_METADATA_KEY,
        DAGSTER_DBT_SELECT_METADATA_KEY,
        DAGSTER_DBT_SELECTOR_METADATA_KEY,
        get_manifest_and_translator_from_dbt_assets,
        get_subset_selection_for_context,
    )
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

    manifest, translator, project = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    tags = context.op.tags
    selection, indirect = get_subset_selection_for_context(
        context=context,
        manifest=manifest,
        select=tags.get(DAGSTER_DBT_SELECT_METADATA_KEY),
        exclude=tags.get(DAGSTER_DBT_EXCLUDE_METADATA_KEY),
        selector=tags.get(DAGSTER_DBT_SELECTOR_METADATA_KEY),
        dagster_dbt_translator=translator,
        current_dbt_indirect_selection_env=os.environ.get("DBT_INDIRECT_SELECTION"),
    )
    indirect_selection = {"DBT_INDIRECT_SELECTION": indirect} if indirect else {}
    done = invoke(["build", *args, *selection], artifacts, {**(env or {}), **indirect_selection})
    for raw in done.results:
        event = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
        yield from event.to_default_asset_events(manifest, translator, context, artifacts, project)
    done.raise_on_failure(f"dbt build {' '.join(args)}")
