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
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

# A refresh writes four databases (runs, the index of asset events, its own run's events, schedules); a process that
# lives for months (the code server's sensors read runs) would otherwise keep one open file per run it ever read.
KEEP_AT_MOST = 8
_kept: OrderedDict[str, sqlite3.Connection] = OrderedDict()
_lock = threading.Lock()


def _under_instance_storage(path: str) -> bool:
    storage = os.environ.get("DECENTWORK_DAGSTER_STORAGE")
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
