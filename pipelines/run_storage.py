"""A read-only look at the Dagster instance's run storage without importing Dagster (about 3 s of imports here),
so that `decentwork status` answers in well under 2 s.

It reads the instance's dagster.yaml (DAGSTER_HOME) for the storage: SQLite under `base_dir` (runs.db, one event
log per run, index.db for asset checks) or PostgreSQL (one database, the same tables). Only tables Dagster has kept
stable for years are read: `runs`, `run_tags`, `event_logs`, `asset_check_executions`, `daemon_heartbeats`.
Anything that changes the instance (marking a run failed) goes through Dagster itself (pipelines/runs.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunRow:
    run_id: str
    job: str
    status: str
    tags: dict[str, str]
    start_time: float | None
    end_time: float | None


def _resolve(value):
    """A dagster.yaml value: literal, or {env: NAME}."""
    if isinstance(value, dict) and "env" in value:
        return os.environ.get(value["env"], "")
    return value


def instance_storage() -> dict:
    """The `storage` block of the instance's dagster.yaml."""
    import yaml

    home = Path(os.environ.get("DAGSTER_HOME", "."))
    config = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8")) or {}
    return config.get("storage", {})


class RunStorageView:
    def __init__(self, storage: dict | None = None):
        storage = instance_storage() if storage is None else storage
        self.postgres = storage.get("postgres")
        if self.postgres is None:
            sqlite = storage.get("sqlite") or storage.get("custom", {}).get("config", {})  # HistoryStorage's too
            base = _resolve(sqlite.get("base_dir", ""))
            self.base = Path(base) / "history"

    @contextlib.contextmanager
    def _connect(self, name: str = "runs"):
        if self.postgres is not None:
            import psycopg2

            url = _resolve(self.postgres.get("postgres_url"))
            if url:
                connection = psycopg2.connect(url)
            else:
                db = {k: _resolve(v) for k, v in self.postgres.get("postgres_db", {}).items()}
                connection = psycopg2.connect(
                    host=db.get("hostname"),
                    port=db.get("port", 5432),
                    dbname=db.get("db_name"),
                    user=db.get("username"),
                    password=db.get("password"),
                )
            try:
                yield connection, "%s"
            finally:
                connection.close()
            return
        path = self.base / ("runs.db" if name == "runs" else f"runs/{name}.db")
        if not path.exists():
            yield None, "?"
            return
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            yield connection, "?"
        finally:
            connection.close()

    def _query(self, sql: str, params: tuple = (), db: str = "runs") -> list[tuple]:
        with self._connect(db) as (connection, mark):
            if connection is None:
                return []
            cursor = connection.cursor()
            try:
                cursor.execute(sql.replace("?", mark), params)
            except Exception as exc:  # a table not made yet: an instance that never ran
                if "no such table" in str(exc) or "does not exist" in str(exc):
                    return []
                raise
            return cursor.fetchall()

    def runs(self, statuses: tuple[str, ...] = (), limit: int = 20) -> list[RunRow]:
        where = f"WHERE status IN ({','.join('?' * len(statuses))})" if statuses else ""
        rows = self._query(
            "SELECT run_id, pipeline_name, status, start_time, end_time "
            f"FROM runs {where} ORDER BY id DESC LIMIT {int(limit)}",
            tuple(statuses),
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        for run_id, key, value in self._query(
            f"SELECT run_id, key, value FROM run_tags WHERE run_id IN ({','.join('?' * len(ids))})", tuple(ids)
        ):
            tags[run_id][key] = value
        return [RunRow(r[0], r[1], r[2], tags[r[0]], r[3], r[4]) for r in rows]

    def engine_messages(self, run_id: str) -> list[str]:
        db = "runs" if self.postgres is not None else run_id
        rows = self._query(
            "SELECT event FROM event_logs WHERE run_id = ? AND "
            "dagster_event_type = 'ENGINE_EVENT' ORDER BY id LIMIT 20",
            (run_id,),
            db=db,
        )
        return [r[0] for r in rows]

    def failing_checks(self) -> list[str]:
        """Asset checks whose latest finished evaluation failed, as `asset:check (severity)`."""
        db = "runs" if self.postgres is not None else "index"
        rows = self._query(
            "SELECT a.asset_key, a.check_name, a.evaluation_event FROM asset_check_executions a "
            "WHERE a.execution_status = 'FAILED' AND a.id = (SELECT MAX(b.id) FROM asset_check_executions b "
            "WHERE b.asset_key = a.asset_key AND b.check_name = "
            "a.check_name AND b.execution_status IN ('SUCCEEDED', 'FAILED'))",
            db=db,
        )
        out = []
        for asset_key, check, event in sorted(rows, key=lambda r: (r[0], r[1])):
            severity = re.search(r"AssetCheckSeverity\.(\w+)", event or "")
            out.append(
                f"{'/'.join(json.loads(asset_key))}:{check} ({(severity.group(1) if severity else 'error').lower()})"
            )
        return out

    def daemon_heartbeat(self) -> float | None:
        """Seconds since epoch of the daemon's latest heartbeat, or None when no daemon ever ran on this instance."""
        rows = self._query("SELECT MAX(timestamp) FROM daemon_heartbeats")
        if not rows or rows[0][0] is None:
            return None
        value = rows[0][0]
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime):  # stored in UTC, without a zone
            return value.replace(tzinfo=dt.UTC).timestamp()
        return float(value)
