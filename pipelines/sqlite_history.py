"""The embedded instance's SQLite run history without fsyncs for every Dagster event.

Dagster's SQLite storage opens a new connection for each event it stores and closes it after the commit. Under
SQLite's default `synchronous=FULL` every commit waits for the disk, and the last connection to close a database
checkpoints its write-ahead log into it and deletes the log, with more waits: `strace -f -e trace=fsync,fdatasync`
counted 8,476 of them in one `decentwork run` of the test suite's scenario sample (2 ms each on this machine's
disk). Here each of those databases gets one connection that stays open for the life of the process, so the others
are never the last to close, and every connection Dagster opens commits with `synchronous=NORMAL`, SQLite's
documented setting for write-ahead logs: a crash of the process loses nothing committed, and a crash of the machine
or a power cut can lose the events of the last moments without corrupting the database
(https://www.sqlite.org/pragma.html#pragma_synchronous, https://www.sqlite.org/wal.html). Only databases under
DECENTWORK_DAGSTER_STORAGE are touched; a PostgreSQL instance, the warehouse and the publication are not SQLite.

`HistoryStorage` (dagster.yaml's `storage: custom:`) is Dagster's own SQLite storage, the same files and tables,
with one change in its event log: Dagster creates a SQLAlchemy engine for every event it stores and disposes of it
after the commit, so each event paid for the engine and compiled its insert statements again (SQLAlchemy keeps
compiled statements per engine). Here each database keeps its engine, still without a pool (a new connection per
event, as before): the scenario sample's refresh stores 767 events, and the time they took went from about 9 to
about 5 s.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# A refresh writes four databases (runs, the index of asset events, its own run's events, schedules); a process that
# lives for months (the code server's sensors read runs) would otherwise keep one open file per run it ever read.
KEEP_AT_MOST = 8
_kept: OrderedDict[str, sqlite3.Connection] = OrderedDict()
_lock = threading.Lock()


def _under_instance_storage(path: str) -> bool:
    return _is_under(path, os.environ.get("DECENTWORK_DAGSTER_STORAGE", ""))


@functools.lru_cache(maxsize=256)
def _is_under(path: str, storage: str) -> bool:
    """Asked on every connection Dagster opens: the answer kept, not two resolved paths each time."""
    if not storage or not path:
        return False
    return Path(path).resolve().is_relative_to(Path(storage).resolve())


@event.listens_for(Engine, "connect")
def _history_connection(dbapi_connection, _record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    path = next((row[2] for row in dbapi_connection.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not _under_instance_storage(path):
        return
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    with _lock:
        if path not in _kept:
            _kept[path] = sqlite3.connect(path, check_same_thread=False)
            while len(_kept) > KEEP_AT_MOST:
                _kept.popitem(last=False)[1].close()  # the least recently used
        _kept.move_to_end(path)
        # a read joins the write-ahead log once Dagster has turned it on (an idle connection does not count)
        _kept[path].execute("PRAGMA schema_version").fetchall()


class _EngineKeepingEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, each database with one engine for the life of the process (the most recently used
    KEEP_AT_MOST), and the tables Dagster asks about remembered once they exist."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str) -> Engine:
        if shard not in self._engines:
            self._engines[shard] = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            while len(self._engines) > KEEP_AT_MOST:
                self._engines.popitem(last=False)[1].dispose()
        self._engines.move_to_end(shard)
        return self._engines[shard]

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """As Dagster's own, but for the engine kept."""
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def has_table(self, table_name: str) -> bool:
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables


class HistoryStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage under `base_dir` (runs, event logs, schedules: the same files and tables) with the
    event log above. dagster.yaml names it as `storage: custom:`."""

    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = _EngineKeepingEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> HistoryStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
