"""The embedded instance's run history (pipelines/sqlite_history.py): SQLite databases under the instance's storage
commit without waiting for the disk, others are untouched, and what a killed process committed is still there."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

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
