"""The embedded instance's run history (pipelines/sqlite_history.py): SQLite databases under the instance's storage
commit without waiting for the disk, others are untouched, and what a killed process committed is still there; the
repository's instance (HistoryStorage) keeps an engine per database and Dagster's own files and tables."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from pipelines import sqlite_history

FULL, NORMAL = 2, 1  # PRAGMA synchronous's values


def _synchronous(path: Path) -> int:
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)  # a new connection each time, as Dagster's
    try:
        with engine.connect() as connection:
            return connection.execute(text("PRAGMA synchronous")).scalar()
    finally:
        engine.dispose()


def test_only_the_instance_history_commits_without_waiting_for_the_disk(tmp_path: Path, monkeypatch):
    storage = tmp_path / "data" / "dagster"
    (storage / "history" / "runs").mkdir(parents=True)
    monkeypatch.setenv("DECENTWORK_DAGSTER_STORAGE", str(storage))
    inside = storage / "history" / "runs" / "index.db"
    beside = tmp_path / "data" / "other.db"  # the data root, not the instance's storage
    named_alike = tmp_path / "data" / "dagster-copy" / "runs.db"  # a prefix of the path is not the folder
    named_alike.parent.mkdir()

    assert _synchronous(inside) == NORMAL
    assert _synchronous(beside) == FULL and _synchronous(named_alike) == FULL
    assert str(inside) in sqlite_history._kept  # one connection stays open: the others never checkpoint on closing
    assert str(beside) not in sqlite_history._kept and str(named_alike) not in sqlite_history._kept
    kept = sqlite_history._kept[str(inside)]
    _synchronous(inside)
    assert sqlite_history._kept[str(inside)] is kept  # one kept connection per database, not one per connection

    monkeypatch.delenv("DECENTWORK_DAGSTER_STORAGE")
    fresh = tmp_path / "unset.db"
    assert _synchronous(fresh) == FULL  # no instance storage named: nothing is touched


def test_a_long_lived_process_keeps_few_databases_open(tmp_path: Path, monkeypatch):
    """A code server whose sensors read every run's events for months must not keep a file open per run."""
    storage = tmp_path / "dagster"
    (storage / "history" / "runs").mkdir(parents=True)
    monkeypatch.setenv("DECENTWORK_DAGSTER_STORAGE", str(storage))
    runs = [storage / "history" / "runs" / f"run-{i}.db" for i in range(3 * sqlite_history.KEEP_AT_MOST)]
    for run in runs:
        assert _synchronous(run) == NORMAL
    kept = [path for path in sqlite_history._kept if path.startswith(str(storage))]
    assert kept == [str(run) for run in runs[-sqlite_history.KEEP_AT_MOST :]]  # the most recently used


def test_what_a_killed_process_committed_is_kept(tmp_path: Path):
    """A process killed (SIGKILL) after its commits, its write-ahead log never checkpointed: every committed row is
    read back by another process and the database passes SQLite's integrity check."""
    storage = tmp_path / "dagster"
    database = storage / "history" / "runs" / "run.db"
    database.parent.mkdir(parents=True)
    script = textwrap.dedent(
        f"""
        import os, signal
        os.environ["DECENTWORK_DAGSTER_STORAGE"] = {str(storage)!r}
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool
        import pipelines.sqlite_history
        url = "sqlite:///{database}"
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as c:
            c.execute(text("PRAGMA journal_mode=WAL"))
            c.execute(text("create table event_logs (id integer primary key, body text)"))
        for i in range(200):  # one connection and one commit per event, as Dagster stores them
            engine = create_engine(url, poolclass=NullPool)
            with engine.begin() as c:
                c.execute(text("insert into event_logs (body) values (:b)"), {{"b": f"event {{i}}"}})
            engine.dispose()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert Path(f"{database}-wal").exists()  # the log was left behind, not checkpointed by a last close
    with sqlite3.connect(database) as connection:
        assert connection.execute("select count(*), max(body) from event_logs").fetchone() == (200, "event 99")
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# --------------------------------------------------------------------------- HistoryStorage: an engine per database


def _instance(home: Path, storage: dict):
    import dagster as dg
    import yaml

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump({"storage": storage, "telemetry": {"enabled": False}}))
    return dg.DagsterInstance.from_config(str(home))


def _repository_instance(home: Path):
    """An instance on the repository's own dagster.yaml (its storage under DECENTWORK_DAGSTER_STORAGE)."""
    import shutil

    import dagster as dg

    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).parents[1] / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def _materialize_twice(instance, checks: bool = True):
    import dagster as dg

    @dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")] if checks else None)
    def numbers():
        yield dg.MaterializeResult(metadata={"rows": 3})
        if checks:
            yield dg.AssetCheckResult(check_name="positive", passed=True)

    return [dg.materialize([numbers], instance=instance).run_id for _ in range(2)]


def test_the_repositorys_instance_writes_what_dagsters_own_sqlite_storage_reads(tmp_path: Path, monkeypatch):
    """dagster.yaml's HistoryStorage keeps Dagster's files and tables: an instance on Dagster's stock `storage:
    sqlite:` (a webserver configured by hand, or the repository's instance of an earlier commit) reads every run,
    event, materialization and check it stored, and writes runs it then reads back."""
    import dagster as dg

    storage = tmp_path / "data" / "dagster"
    monkeypatch.setenv("DECENTWORK_DAGSTER_STORAGE", str(storage))
    with _repository_instance(tmp_path / "home") as ours:
        assert isinstance(ours._event_storage, sqlite_history._EngineKeepingEventLogStorage)
        run_ids = _materialize_twice(ours)
        stored = {run_id: [e.dagster_event_type for e in ours.all_logs(run_id)] for run_id in run_ids}
    with _instance(tmp_path / "stock", {"sqlite": {"base_dir": str(storage)}}) as stock:
        assert type(stock._event_storage) is SqliteEventLogStorage
        assert {run.run_id for run in stock.get_runs()} == set(run_ids)
        assert {run_id: [e.dagster_event_type for e in stock.all_logs(run_id)] for run_id in run_ids} == stored
        assert all(len(events) > 10 for events in stored.values())
        record = stock.get_latest_materialization_event(dg.AssetKey("numbers"))
        assert record.run_id == run_ids[-1]
        check = stock.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")]
        )
        assert {c.run_id for c in check.values()} == {run_ids[-1]}
        later = _materialize_twice(stock, checks=False)
    with _repository_instance(tmp_path / "home") as ours:
        assert {run.run_id for run in ours.get_runs()} == {*run_ids, *later}
        assert ours.get_latest_materialization_event(dg.AssetKey("numbers")).run_id == later[-1]


def test_the_event_log_keeps_one_engine_per_database_and_few_of_them(tmp_path: Path, monkeypatch):
    """Dagster's own event log makes an engine per event; this one, one per database, at most KEEP_AT_MOST of them
    for a process that reads many runs."""
    created: list[str] = []
    real = sqlite_history.create_engine

    def counting(url, **kwargs):
        created.append(str(url))
        return real(url, **kwargs)

    monkeypatch.setattr(sqlite_history, "create_engine", counting)
    storage = tmp_path / "dagster"
    monkeypatch.setenv("DECENTWORK_DAGSTER_STORAGE", str(storage))
    with _repository_instance(tmp_path / "home") as instance:
        events = instance.event_log_storage
        run_ids = _materialize_twice(instance)
        per_run = [len(instance.all_logs(run_id)) for run_id in run_ids]
        assert min(per_run) > 10
        # the index and the two runs' databases: one engine each, however many events they stored
        assert sorted(created) == sorted(set(created)) and len(created) <= 3, created
        for i in range(3 * sqlite_history.KEEP_AT_MOST):
            events.get_logs_for_run(f"run-{i}")
        assert len(events._engines) == sqlite_history.KEEP_AT_MOST
        assert list(events._engines)[-1] == f"run-{3 * sqlite_history.KEEP_AT_MOST - 1}"


def test_events_stored_from_several_threads_at_once_are_all_kept(tmp_path: Path, monkeypatch):
    """The engine kept is shared by threads (Dagster's step threads, the event watcher): every event each stores is
    there afterwards, in order within a thread."""
    from concurrent.futures import ThreadPoolExecutor

    from dagster._core.events.log import EventLogEntry

    storage = tmp_path / "dagster"
    monkeypatch.setenv("DECENTWORK_DAGSTER_STORAGE", str(storage))
    events = sqlite_history._EngineKeepingEventLogStorage(str(storage / "history" / "runs"))

    def store(thread: int) -> None:
        for i in range(40):
            events.store_event(
                EventLogEntry(
                    error_info=None,
                    level="INFO",
                    user_message=f"{thread}:{i}",
                    run_id=f"run-{thread % 3}",
                    timestamp=float(i),
                    step_key=None,
                    job_name="job",
                    dagster_event=None,
                )
            )

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(store, range(6)))
    for run in range(3):
        messages = [e.user_message for e in events.get_logs_for_run(f"run-{run}")]
        assert len(messages) == 80
        for thread in (run, run + 3):
            mine = [m for m in messages if m.startswith(f"{thread}:")]
            assert mine == [f"{thread}:{i}" for i in range(40)]
