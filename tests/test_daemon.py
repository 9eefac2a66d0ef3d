"""The daemon for real (issue 20): every country's schedule due in the same minute, on SQLite and on PostgreSQL.

`decentwork daemon` runs on a small sample with DECENTWORK_REFRESH_CRON set to a minute about to come. Waited for:
each country with deliveries is refreshed exactly once, successfully (one refresh run covers them all, the other
countries' ticks join it), within DEADLINE seconds of the due minute; the countries without deliveries get their
skip reason; the sensor's first look launches nothing; the publication equals that of `decentwork run` on the same
extracts. The daemon's process tree is stopped by its process ids at the end. Behind the slow marker (CI runs it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import psutil
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus

from decentwork.sample import generate
from decentwork.settings import Paths
from tests.instances import BACKENDS, REPO, instance_home

pytestmark = pytest.mark.slow
KEY = "daemon-test-key-of-at-least-32-characters"
DEADLINE = 240  # seconds from the due minute to the end of the last refresh: one refresh of the sample is ~60 s here
COUNTRIES_WITH_DELIVERIES = ["BGD", "IDN", "JOR", "KHM", "VNM"]


def _decentwork(env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        **kwargs,
    )


def _stop_tree(process: subprocess.Popen) -> list[int]:
    """Terminate the daemon and every process it started, by their ids; kill what is left after 20 s."""
    try:
        parent = psutil.Process(process.pid)
        tree = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):  # it ended by itself meanwhile
            proc.terminate()
    _, alive = psutil.wait_procs(tree, timeout=20)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=10)
    return [p.pid for p in tree]


def _tree_rss(process: subprocess.Popen) -> int:
    try:
        parent = psutil.Process(process.pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def _publication(marts: Path) -> dict[str, pl.DataFrame]:
    return {f.name: pl.read_parquet(f) for f in sorted(marts.glob("*.parquet"))}


def _next_due_minute() -> dt.datetime:
    """A minute far enough ahead for the daemon to start (about 15 s here) before it comes."""
    now = dt.datetime.now(dt.UTC)
    return (now + dt.timedelta(seconds=45)).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_country_due_at_once_is_refreshed_exactly_once(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "data"
    generate(root / "raw", factories=20, workers=2000, months=2)
    reference = tmp_path / "reference"
    shutil.copytree(root / "raw", reference / "raw", copy_function=shutil.copy2)  # same files, same delivery times

    with instance_home(backend, tmp_path / "home") as instance_env:
        due = _next_due_minute()
        env = {
            **os.environ,
            **instance_env,
            "DECENTWORK_DATA_DIR": str(root),
            "DECENTWORK_PSEUDONYM_KEY": KEY,
            "DECENTWORK_DAGSTER_STORAGE": str(root / "dagster"),
            "DECENTWORK_REFRESH_CRON": f"{due.minute} {due.hour} * * *",
        }
        env.pop("DECENTWORK_SCHEDULES", None)
        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "decentwork"), "daemon"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for name, value in instance_env.items() | {
            ("DECENTWORK_DATA_DIR", str(root)),
            ("DECENTWORK_DAGSTER_STORAGE", str(root / "dagster")),
        }:
            monkeypatch.setenv(name, value)
        peak, stopped = 0, []
        try:
            with dg.DagsterInstance.get() as instance:
                finished_at = None
                while time.time() < due.timestamp() + DEADLINE + 60:
                    assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                    peak = max(peak, _tree_rss(daemon))
                    runs = instance.get_runs(filters=dg.RunsFilter(job_name="refresh"))
                    ticks = _schedule_ticks(instance, due)
                    if runs and len(ticks) == 12 and all(r.is_finished for r in runs):
                        finished_at = max(instance.get_run_stats(r.run_id).end_time for r in runs)
                        break
                    time.sleep(3)
                runs = instance.get_runs(filters=dg.RunsFilter(job_name="refresh"))
                ticks = _schedule_ticks(instance, due)
                sensor_ticks = _sensor_ticks(instance, "raw_delivery_sensor")
        finally:
            stopped = _stop_tree(daemon)
            log.close()
        daemon_log = (tmp_path / "daemon.log").read_text()
        assert stopped and not any(
            psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in stopped
        )

        assert finished_at is not None, (
            f"not finished {DEADLINE + 60} s after the due minute: "
            f"runs {[(r.run_id[:8], r.status.value) for r in runs]}, "
            f"{len(ticks)} schedule ticks\n{daemon_log[-3000:]}"
        )
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS], [(r.run_id[:8], r.status.value) for r in runs]
        elapsed = finished_at - due.timestamp()
        print(
            f"{backend}: every country refreshed {elapsed:.0f} s after "
            f"the due minute; daemon tree peak RSS {peak / 2**20:.0f} MB"
        )
        assert elapsed < DEADLINE

        # one schedule requested the refresh, every other country's tick says why it did not
        requested = [c for c, t in ticks.items() if t.status == TickStatus.SUCCESS]
        assert len(requested) == 1 and requested[0] in COUNTRIES_WITH_DELIVERIES, {
            c: (t.status, t.skip_reason) for c, t in ticks.items()
        }
        for country, tick in ticks.items():
            if country == requested[0]:
                continue
            assert tick.status == TickStatus.SKIPPED, (country, tick.status)
            if country in COUNTRIES_WITH_DELIVERIES:
                assert "joins the queued refresh" in tick.skip_reason or "being refreshed by run" in tick.skip_reason, (
                    country,
                    tick.skip_reason,
                )
            else:
                assert f"{country} has no deliveries" in tick.skip_reason, (country, tick.skip_reason)
        assert sensor_ticks and "First look" in (sensor_ticks[0].skip_reason or ""), [
            t.skip_reason for t in sensor_ticks
        ]
        assert not any(t.status == TickStatus.SUCCESS for t in sensor_ticks), "the sensor launched a run"

    # the publication is that of `decentwork run` on the same extracts
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "DECENTWORK_"))}
    reference_run = _decentwork(
        {**cli_env, "DECENTWORK_DATA_DIR": str(reference), "DECENTWORK_PSEUDONYM_KEY": KEY}, "run"
    )
    assert reference_run.returncode == 0, reference_run.stdout[-3000:] + reference_run.stderr[-3000:]
    daemon_published, cli_published = _publication(Paths(root).marts), _publication(Paths(reference).marts)
    assert daemon_published.keys() == cli_published.keys() and daemon_published
    for name, frame in cli_published.items():
        assert daemon_published[name].equals(frame), f"{name} differs between the daemon's refresh and `decentwork run`"


def _schedule_ticks(instance: dg.DagsterInstance, due: dt.datetime) -> dict[str, object]:
    """The tick of each country's schedule for the due minute."""
    out = {}
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE):
        name = state.instigator_name  # refresh_<ISO3>_schedule
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=5):
            if abs(tick.timestamp - due.timestamp()) < 1 and tick.status != TickStatus.STARTED:
                out[name.split("_")[1]] = tick
    return out


def _sensor_ticks(instance: dg.DagsterInstance, sensor: str) -> list:
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == sensor:
            return list(reversed(instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=50)))
    return []
