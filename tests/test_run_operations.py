"""Operations on a real instance, SQLite and PostgreSQL alike (issue 20): a refresh, a schedule tick and `status`;
runs whose process is gone; failures that reach the national team.

The refresh cases run `decentwork run` in full, in this process (slow marker, CI runs them); the rest is quick.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest
import yaml
from dagster._core.events import AssetCheckEvaluationPlanned, DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.utils import make_new_run_id

from decentwork.settings import PROCESS_TAG
from pipelines.runs import FAILURE_COMMAND_ENV, FAILURE_WEBHOOK_ENV, HOST_TAG, REQUESTED_FOR_TAG, recent_failures
from pipelines.sensors import refresh_failure_sensor
from tests.conftest import decentwork
from tests.instances import BACKENDS, REPO, instance_home

KEY = "operations-test-key-of-32-characters"
RECOVERED = "was interrupted (its process is gone): marked failed, its warehouse slot freed"


def _decentwork(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )


def _env(instance_env: dict[str, str], root: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "DECENTWORK_"))}
    return {**base, **instance_env, "DECENTWORK_DATA_DIR": str(root), "DECENTWORK_PSEUDONYM_KEY": KEY}


@pytest.fixture
def on_instance(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(environment for the command line, the instance itself) on the parametrized backend, data root tmp/data."""
    root = tmp_path / "data"
    (root / "raw").mkdir(parents=True)
    with instance_home(request.param, tmp_path / "home") as instance_env:
        env = _env(instance_env, root)
        for name in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
            if name in instance_env:
                monkeypatch.setenv(name, instance_env[name])
        monkeypatch.setenv("DECENTWORK_DATA_DIR", str(root))
        monkeypatch.setenv("DECENTWORK_DAGSTER_STORAGE", str(root / "dagster"))
        (root / "dagster").mkdir()
        with dg.DagsterInstance.get() as instance:
            yield env, instance, root


def test_the_postgres_instance_is_the_repository_instance_but_for_storage():
    sqlite = yaml.safe_load((REPO / "dagster.yaml").read_text())
    postgres = yaml.safe_load((REPO / "docs" / "dagster.postgres.yaml").read_text())
    assert sqlite.pop("storage")["custom"]["class"] == "HistoryStorage"
    assert postgres.pop("storage").keys() == {"postgres"}
    assert sqlite == postgres
    assert sqlite["concurrency"]["runs"]["max_concurrent_runs"] == 1


# --------------------------------------------------------------------------- a refresh, a schedule tick, status


@pytest.mark.slow
@pytest.mark.parametrize("on_instance", BACKENDS, indirect=True)
def test_a_refresh_then_a_schedule_tick_then_status(on_instance):
    """`decentwork run` records its refresh in the instance; the next schedule tick of a country finds its deliveries
    unchanged and skips, a new delivery makes it ask again; `status` reads the instance and says the run succeeded."""
    from decentwork.sample import generate
    from pipelines.definitions import defs

    env, instance, root = on_instance
    generate(root / "raw", factories=12, workers=800, months=1)
    # the refresh in this process (the command's own path, tests/conftest.py), on the instance of `env`
    refresh = decentwork(root, "run", env={**env, "DECENTWORK_DATA_DOCS": "off"})
    assert refresh.returncode == 0, refresh.stdout[-3000:] + refresh.stderr[-3000:]
    (run,) = instance.get_runs(filters=dg.RunsFilter(job_name="refresh"))
    assert run.status == dg.DagsterRunStatus.SUCCESS

    def schedule_tick(country: str):
        result = defs.resolve_schedule_def(f"refresh_{country}_schedule").evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        return result.run_requests or [], result.skip_message or ""

    requests, skip = schedule_tick("KHM")
    assert requests == [] and "unchanged since" in skip, skip
    newest = sorted((root / "raw" / "payroll" / "KHM").iterdir())[-1]
    (newest.parent / f"resent_{newest.name}").write_bytes(newest.read_bytes())
    (request,), _ = schedule_tick("KHM")
    assert request.tags[REQUESTED_FOR_TAG] == "KHM"
    assert schedule_tick("VNM")[0] == []

    status = _decentwork(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert run.run_id[:8] in status.stdout and "SUCCESS" in status.stdout, status.stdout


# --------------------------------------------------------------------------- interrupted runs and status


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def _started_run(instance: dg.DagsterInstance, tags: dict[str, str], pid_event: int | None = None) -> str:
    run_id = make_new_run_id()
    instance.add_run(dg.DagsterRun(job_name="refresh", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags))
    if pid_event is not None:  # what the default run launcher's process reports when it starts the run
        instance.report_engine_event(
            f"Started process for run (pid: {pid_event}).",
            instance.get_run_by_id(run_id),
            EngineEventData.in_process(pid_event),
        )
    # killed while a check was planned: the evaluation that never came (status once crashed on it)
    instance.report_dagster_event(
        DagsterEvent(
            DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value,
            job_name="refresh",
            event_specific_data=AssetCheckEvaluationPlanned(
                asset_key=dg.AssetKey(["staging", "payroll"]), check_name="quarantine_share"
            ),
        ),
        run_id=run_id,
    )
    return run_id


@pytest.mark.parametrize("on_instance", BACKENDS, indirect=True)
def test_status_marks_runs_whose_process_is_gone_failed_and_never_crashes(on_instance):
    env, instance, root = on_instance
    import socket

    host = socket.gethostname()
    by_cli = _started_run(instance, {PROCESS_TAG: f"{host}/{_dead_pid()}/123", HOST_TAG: host})
    by_daemon = _started_run(instance, {HOST_TAG: host}, pid_event=_dead_pid())
    alive = _started_run(instance, {HOST_TAG: host}, pid_event=os.getpid())
    elsewhere = _started_run(instance, {HOST_TAG: "another-host"}, pid_event=_dead_pid())
    (root / "quarantine" / "payroll" / "country=KHM").mkdir(parents=True)
    import polars as pl

    pl.DataFrame(
        {
            "file": ["payroll/KHM/a.csv"],
            "status": ["loaded"],
            "rows_read": [1],
            "rows_loaded": [1],
            "rows_quarantined": [0],
            "rows_superseded": [0],
        }
    ).write_parquet(root / "quarantine" / "payroll" / "country=KHM" / "files.parquet")

    status = _decentwork(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count(RECOVERED) == 2, status.stdout
    assert "failing checks: 0" in status.stdout
    states = {run_id: instance.get_run_by_id(run_id).status for run_id in (by_cli, by_daemon, alive, elsewhere)}
    assert states == {
        by_cli: dg.DagsterRunStatus.FAILURE,
        by_daemon: dg.DagsterRunStatus.FAILURE,
        alive: dg.DagsterRunStatus.STARTED,
        elsewhere: dg.DagsterRunStatus.STARTED,
    }
    again = _decentwork(env, "status")
    assert again.returncode == 0 and RECOVERED not in again.stdout


def test_status_reads_without_importing_dagster(tmp_path: Path):
    """Why status answers in about a second (bench/status.py measures it): Dagster's imports alone take 3 s here."""
    root = tmp_path / "data"
    (root / "quarantine" / "payroll" / "country=KHM").mkdir(parents=True)
    import polars as pl

    pl.DataFrame(
        {
            "file": ["payroll/KHM/a.csv"],
            "status": ["loaded"],
            "rows_read": [1],
            "rows_loaded": [1],
            "rows_quarantined": [0],
            "rows_superseded": [0],
        }
    ).write_parquet(root / "quarantine" / "payroll" / "country=KHM" / "files.parquet")
    code = (
        "import sys; from decentwork.cli import main; main(['status']); "
        "print('IMPORTED:', sorted(m for m in sys.modules if m.split('.')[0] "
        "in ('dagster', 'dagster_dbt', 'polars', 'sqlalchemy')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_env({"DAGSTER_HOME": str(REPO)}, root),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "IMPORTED: []" in done.stdout, done.stdout[-500:]


# --------------------------------------------------------------------------- failures reach the national team


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_failed_run_reaches_status_a_command_and_a_webhook_without_personal_data(data_root, tmp_path, monkeypatch):
    @dg.op
    def staging__payroll():
        raise ValueError(
            "Conversion Error: Could not convert string 'Chan Dara' to INT64 (id 1234567890, \"NID-88\")\nLINE 2: more"
        )

    @dg.job(tags={"dagster/partition": "KHM"})
    def refresh():
        staging__payroll()

    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received = tmp_path / "command.json"
    monkeypatch.setenv(FAILURE_COMMAND_ENV, f"cat > {received}")
    monkeypatch.setenv(FAILURE_WEBHOOK_ENV, f"http://127.0.0.1:{server.server_port}/hook")
    try:
        with dg.instance_for_test() as instance:
            result = refresh.execute_in_process(instance=instance, raise_on_error=False)
            failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
            context = dg.build_run_status_sensor_context(
                sensor_name="refresh_failure_sensor",
                dagster_event=failure,
                dagster_instance=instance,
                dagster_run=result.dagster_run,
            ).for_run_failure()
            refresh_failure_sensor(context)
    finally:
        server.shutdown()
    (stored,) = recent_failures(data_root)
    assert stored["country"] == "KHM" and stored["steps"] == ["staging__payroll"]
    assert "Could not convert string" in stored["reason"]
    for personal in ("Chan Dara", "1234567890", "NID-88", "LINE 2"):
        assert personal not in json.dumps(stored)
    assert json.loads(received.read_text()) == stored
    assert _Hook.received == [stored]
