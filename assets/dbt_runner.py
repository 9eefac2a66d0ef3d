"""dbt in this process (dbt's `dbtRunner`), rather than a `dbt` child process per build.

A child process paid dbt's imports and a parse of the project every time: about 5 s before its first model, twice a
refresh (the warehouse models, then the marts after disclosure control), three times when a country fails a gate.
Here dbt's imports are paid once per process (the test suite, which runs refreshes in its own process, pays them
once), and every invocation gets the project already parsed (`parsed_project`).

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

from assets.dbt_project import project_files
from decentwork.settings import DBT_PROJECT_DIR, dbt_target

RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
FAILED = {"error", "fail", "runtime error"}  # a node's status in dbt's run results
_LOCK = threading.RLock()  # dbt keeps its flags and adapters in module state: one invocation at a time
_SAVED: dict[tuple, bytes] = {}  # the parse state last read (parsed_project)


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
    """Where the project is, and where this invocation's artifacts and logs go (the profile's target comes from
    DECENTWORK_DBT_TARGET)."""
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(artifacts),
        "--log-path",
        str(artifacts),
        *([] if sys.stdout.isatty() else ["--no-use-colors"]),
    ]


def parsed_project():
    """The project as dbt parsed it, a fresh copy for each invocation (compiling marks a manifest's nodes, the
    ephemeral models' CTEs as injected, and dbt's Manifest does not copy faithfully), or None for dbt to parse it.

    The parse is the one `decentwork dbt-parse` (and `make`) keep in dbt_project/target/, read as dbt reads its own
    partial-parse state. dbt would not reuse that state under another data root (it keys the state on the
    profile's values, the warehouse path among them) and parse the whole project again, about 5 s a new root;
    the project names no data root (its sources are relative to it), so the same parse serves every root. A
    parse older than a project file, or of another adapter than the target's (Spark), is not used."""
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import PARTIAL_PARSE_FILE_NAME, extended_mashumuro_decoder

    saved = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE_FILE_NAME
    try:
        stamp = saved.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    key = (saved, stamp)
    if key not in _SAVED:
        if stamp < max(f.stat().st_mtime_ns for f in project_files()):
            return None
        _SAVED.clear()
        _SAVED[key] = saved.read_bytes()
    manifest = Manifest.from_msgpack(_SAVED[key], decoder=extended_mashumuro_decoder)
    if manifest.metadata.adapter_type != dbt_target():
        return None
    manifest.build_parent_and_child_maps()
    manifest.build_flat_graph()
    return manifest


def _release_warehouse() -> None:
    """dbt-duckdb keeps its DuckDB database in a class attribute after an invocation; close it, so that this
    process can open the warehouse again (read-only, or from another dbt invocation)."""
    with contextlib.suppress(ImportError):
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        with DuckDBConnectionManager._LOCK:
            if DuckDBConnectionManager._ENV is not None:
                DuckDBConnectionManager._ENV.close()
                DuckDBConnectionManager._ENV = None


def invoke(
    args: list[str], artifacts: Path, env: Mapping[str, str | None] | None = None, write_json: bool = False
) -> DbtInvocation:
    """Run `dbt <args>` here, with artifacts and logs in `artifacts` and `env` set while it runs. Without
    `write_json`, no manifest.json or run_results.json (1.4 MB a build; the parse is in dbt_project/target)."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    results: list[dict] = []

    def collect(event) -> None:  # called from dbt's worker threads
        if event.info.name in RESULT_EVENTS:
            results.append(msg_to_dict(event))

    with _LOCK, _environment(env or {}):
        try:
            runner = dbtRunner(manifest=parsed_project(), callbacks=[collect])
            # dbt's file log at info level: debug wrote every statement, 9 MB a refresh
            json = [] if write_json else ["--no-write-json"]
            done = runner.invoke([*args, *_project_args(artifacts), *json, "--log-level-file", "info"])
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
    command = ["build", *args, *selection]
    done = invoke(command, artifacts, {**(env or {}), **indirect_selection})
    context.log.info(f"dbt {' '.join(command)} finished: {len(done.results)} nodes, {len(done.problems)} failed")
    for raw in done.results:
        event = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
        yield from event.to_default_asset_events(manifest, translator, context, artifacts, project)
    done.raise_on_failure(f"dbt build {' '.join(args)}")
