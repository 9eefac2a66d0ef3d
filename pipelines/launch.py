"""Running the refresh job in this process (`decentwork run`), as the daemon would run it: the tags that say what
was delivered, interrupted runs marked failed first, and a failed run classified (a full disk) and passed on to the
national team (pipelines/runs.py). The command line only says what happened."""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from assets.deliveries import delivery_fingerprints
from decentwork.settings import DELIVERIES_TAG, MADE_WITH_TAG, REINGEST_TAG, Paths
from pipelines.automation import refresh_tags
from pipelines.definitions import defs
from pipelines.runs import failure_record, launcher_tags, record_failure, recover_interrupted_runs

DISK_FULL = (
    "No space left on device",
    "[Errno 28]",
    "database or disk is full",
    "disk I/O error",
    "not enough space on the disk",
)
LATER_STEPS = {
    "warehouse_models": "dbt",
    "disclosure__controlled_cells": "disclosure control",
    "mart_models": "dbt marts",
    "published_marts": "publication",
    "inspection__risk_ranking": "risk ranking",
}


@dataclass
class Refresh:
    """What a refresh run did: `failed` names the failed (or skipped) steps; `disk_full` when a full disk stopped it."""

    seconds: float
    failed: list[str] = field(default_factory=list)
    disk_full: bool = False
    stages: str = ""

    @property
    def success(self) -> bool:
        return not self.failed and not self.disk_full


def disk_full(text: str) -> bool:
    return any(marker.lower() in text.lower() for marker in DISK_FULL)


def _exception_texts(exc: BaseException) -> list[str]:
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return out


def refresh(
    p: Paths,
    known: set[str],
    country: str | None,
    reingest: bool,
    say: Callable[[str], None] = print,
    made_with: dict | None = None,
) -> Refresh:
    """Run the refresh job for one country (or all) in this process, on the instance the daemon uses. `made_with`:
    the code and settings the command found (assets/publication_record.py), recorded with the publication."""
    fingerprints = delivery_fingerprints(p, known)
    if country:
        tags = {DELIVERIES_TAG: json.dumps({country: fingerprints[country]})}
    else:
        tags = refresh_tags(fingerprints, sorted(known), "decentwork run", sorted(fingerprints))
    if reingest:
        tags[REINGEST_TAG] = "all"
    if made_with:
        tags[MADE_WITH_TAG] = json.dumps(made_with, sort_keys=True)
    started = time.perf_counter()
    _import_quality_gates_meanwhile()
    try:
        instance = dg.DagsterInstance.get()
        recover_interrupted_runs(instance, say=say)
        result = defs.resolve_job_def("refresh").execute_in_process(
            instance=instance,
            partition_key=country,
            tags={**tags, **launcher_tags()},
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    except Exception as exc:  # the run's own storage failed: a full disk is the one such failure a user can act on
        if disk_full(repr(exc) + "".join(_exception_texts(exc))):
            return Refresh(time.perf_counter() - started, disk_full=True)
        raise
    seconds = time.perf_counter() - started
    skipped = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
    if result.success and "published_marts" not in skipped:
        return Refresh(seconds, stages=stage_seconds(instance, result.run_id))
    failures = [e for e in result.all_events if e.is_step_failure]
    if any(disk_full(e.event_specific_data.error.to_string()) for e in failures if e.event_specific_data.error):
        return Refresh(seconds, disk_full=True)
    # a failed `decentwork run` reaches the national team as a failed daemon run does
    for problem in record_failure(p, failure_record(result.dagster_run, failures, "the run failed")):
        say(f"  (could not pass the failure on: {problem})")
    return Refresh(seconds, failed=[e.step_key for e in failures] or [f"{key} (skipped)" for key in skipped])


def _import_quality_gates_meanwhile() -> None:
    """Import the publication's quality gates (Great Expectations: about 6 s of imports) in the background while
    the run ingests: polars reads and validates outside the GIL, so most of the import overlaps with that work
    instead of adding to the run's critical path. The gates' own import then finds the modules loaded (or waits
    for this import to finish)."""

    def load() -> None:
        with contextlib.suppress(Exception):  # the gates' own import reports missing packages or any error
            importlib.import_module("assets.quality")

    threading.Thread(target=load, name="import-quality-gates", daemon=True).start()


def stage_seconds(instance: dg.DagsterInstance, run_id: str) -> str:
    """Wall time of each step of the run from its event log: ingestion per extract, dbt, publication."""
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    start, seconds = {}, {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        key = entry.step_key
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            start[key] = entry.timestamp
        elif key in start:
            seconds[key] = entry.timestamp - start[key]
    ingestion = {k: v for k, v in seconds.items() if k not in LATER_STEPS}
    parts = [
        f"ingestion {sum(ingestion.values()):.1f}s ("
        + ", ".join(f"{k.removeprefix('staging__')} {v:.1f}s" for k, v in sorted(ingestion.items()))
        + ")"
    ]
    parts += [f"{label} {seconds[k]:.1f}s" for k, label in LATER_STEPS.items() if k in seconds]
    return ", ".join(parts)
