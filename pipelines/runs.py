"""Runs on this machine: who executes each one, what to do with a run whose process is gone, and how a failure
reaches the national team.

- **Process identity.** A run executed by `decentwork run` carries PROCESS_TAG (host/pid/kernel start time); a run
  the daemon or the UI launched carries HOST_TAG (the job's tag, set where the code location loads, which is where
  the default run launcher starts the run's process) and its process id is in the run's "Started process for run"
  engine event. A run on another host is never judged from here.
- **Interrupted runs** (`recover_interrupted_runs`): an unfinished run whose process is gone is marked failed and
  the warehouse pool slots it held are freed; `decentwork run`, `ui`, `status` and the daemon (the
  `interrupted_runs_sensor`) all call it. Queued runs are no one's process yet: they wait for the daemon.
- **Failures** (`record_failure`, the `refresh_failure_sensor`): country, step and a one-line reason go to
  `<data root>/dagster/failures.jsonl`, which `decentwork status` shows, and to DECENTWORK_FAILURE_COMMAND (the
  record as JSON on its standard input) and DECENTWORK_FAILURE_WEBHOOK (POSTed as JSON) when they are set.
  The reason is an error's first line with quoted text and numbers of 6 digits or more masked (`one_line_reason`):
  no value or id travels.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import urllib.request
from pathlib import Path

from decentwork.settings import PROCESS_TAG, Paths

HOST_TAG = "decentwork/host"
REQUESTED_FOR_TAG = "decentwork/requested_for"  # the countries whose schedule or deliveries asked for the refresh
TRIGGER_TAG = "decentwork/trigger"
UNFINISHED = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")
FAILURE_COMMAND_ENV = "DECENTWORK_FAILURE_COMMAND"
FAILURE_WEBHOOK_ENV = "DECENTWORK_FAILURE_WEBHOOK"


# --------------------------------------------------------------------------- process identity


def process_start(pid: int) -> str | None:
    """The kernel's start time of process `pid` (Linux), so that a reused pid is not taken for the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def launcher_tags() -> dict[str, str]:
    """Tags of a run this process executes itself (`decentwork run`)."""
    return {
        PROCESS_TAG: f"{socket.gethostname()}/{os.getpid()}/{process_start(os.getpid()) or ''}",
        HOST_TAG: socket.gethostname(),
    }


def _alive(pid: int, started: str = "") -> bool:
    if started and Path("/proc").is_dir():
        return process_start(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def started_pid(engine_events: list[str]) -> int | None:
    """The run worker's pid from its "Started process for run (pid: N)." engine event message."""
    for message in engine_events:
        found = re.search(r"Started process for run \(pid: (\d+)\)", message or "")
        if found:
            return int(found.group(1))
    return None


def process_gone(tags: dict[str, str], engine_events: list[str]) -> bool:
    """True when the run's process ran on this host and no longer exists. Unknown means alive."""
    host, _, rest = tags.get(PROCESS_TAG, "").partition("/")
    if host:
        pid, _, started = rest.partition("/")
        return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid), started)
    if tags.get(HOST_TAG) != socket.gethostname():
        return False
    pid = started_pid(engine_events)
    if pid is None:
        return False  # not started yet (STARTING): the daemon's start timeout judges it
    return not _alive(pid)


# --------------------------------------------------------------------------- recovery (Dagster API)


def _engine_messages(instance, run_id: str) -> list[str]:
    import dagster as dg

    return [e.message for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)][:20]


def interrupted_runs(instance) -> list:
    import dagster as dg

    statuses = [dg.DagsterRunStatus[s] for s in UNFINISHED]
    return [
        run
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=statuses))
        if process_gone(run.tags, _engine_messages(instance, run.run_id))
    ]


def recover_interrupted_runs(instance, say=print) -> list[str]:
    """Mark failed the unfinished runs whose process is gone, and free the warehouse pool slots they held: a run
    killed part-way would otherwise hold its slot, and block every later run, forever. Returns their ids."""
    recovered = []
    for run in interrupted_runs(instance):
        instance.report_run_failed(run, message="interrupted: the process executing it ended before the run finished")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        say(f"run {run.run_id[:8]} was interrupted (its process is gone): marked failed, its warehouse slot freed")
        recovered.append(run.run_id)
    return recovered


# --------------------------------------------------------------------------- failures


def failures_file(paths: Paths) -> Path:
    return paths.dagster_storage / "failures.jsonl"


def one_line_reason(text: str) -> str:
    """The first line of an error, with what could be a value masked: quoted text (DuckDB and dbt quote the value
    they could not convert) and numbers of 6 digits or more (an id); at most 300 characters."""
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "unknown error")
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", line)
    return re.sub(r"\d{6,}", "…", line)[:300]


def run_scope(tags: dict[str, str]) -> str:
    """The countries a run refreshes, as a person reads it."""
    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    requested = tags.get(REQUESTED_FOR_TAG)
    return "all countries" + (f" (requested for {requested})" if requested else "")


def failure_record(run, step_failures: list, fallback: str) -> dict:
    """Country, step and a one-line reason of a failed Dagster run (step failure events): no row, value or id."""
    steps = [e.step_key for e in step_failures if e.step_key]
    errors = [e.event_specific_data.error for e in step_failures if getattr(e.event_specific_data, "error", None)]
    root = errors[0] if errors else None
    while root is not None and getattr(root, "cause", None) is not None:  # Dagster wraps the step's own error
        root = root.cause
    reason = one_line_reason(root.message if root is not None else fallback)
    return {"run_id": run.run_id, "job": run.job_name, "country": run_scope(run.tags), "steps": steps, "reason": reason}


def record_failure(paths: Paths, record: dict) -> list[str]:
    """Append a failure to failures.jsonl and pass it on to the command and webhook set in the environment.
    Returns what could not be done (a command or webhook that failed), never raises for those."""
    record = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **record}
    target = failures_file(paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    problems = []
    body = json.dumps(record, sort_keys=True).encode("utf-8")
    command = os.environ.get(FAILURE_COMMAND_ENV, "").strip()
    if command:
        try:
            done = subprocess.run(command, shell=True, input=body, capture_output=True, timeout=60)
            if done.returncode != 0:
                problems.append(f"{FAILURE_COMMAND_ENV} exited {done.returncode}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"{FAILURE_COMMAND_ENV} failed: {type(exc).__name__}")
    webhook = os.environ.get(FAILURE_WEBHOOK_ENV, "").strip()
    if webhook:
        request = urllib.request.Request(
            webhook, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30):
                pass
        except Exception as exc:
            problems.append(f"{FAILURE_WEBHOOK_ENV} failed: {type(exc).__name__}")
    return problems


def recent_failures(paths: Paths, limit: int = 5) -> list[dict]:
    target = failures_file(paths)
    if not target.exists():
        return []
    lines = target.read_text(encoding="utf-8").splitlines()[-limit:]
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
