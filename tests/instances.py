"""Dagster instances for the operations tests: the repository's SQLite instance, or the documented PostgreSQL one
(docs/dagster.postgres.yaml) on a fresh database of the server named by DECENTWORK_TEST_POSTGRES_URL (.ci/postgres
starts one and CI sets it; without it the Postgres cases skip locally and fail under CI=true)."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ["sqlite", "postgres"]
POSTGRES_URL_ENV = "DECENTWORK_TEST_POSTGRES_URL"


def _postgres_server() -> str:
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if not url:
        message = (
            f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server "
            "for the instance tests (`bash .ci/postgres` starts one)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@contextlib.contextmanager
def instance_home(backend: str, folder: Path) -> Iterator[dict[str, str]]:
    """A DAGSTER_HOME for `backend` in `folder`; yields the environment a process needs to use it."""
    folder.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        shutil.copy(REPO / "dagster.yaml", folder / "dagster.yaml")
        yield {"DAGSTER_HOME": str(folder)}
        return
    import psycopg2

    server = urlparse(_postgres_server())
    database = f"decentwork_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server.geturl())
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    shutil.copy(REPO / "docs" / "dagster.postgres.yaml", folder / "dagster.yaml")
    try:
        yield {
            "DAGSTER_HOME": str(folder),
            "DAGSTER_PG_HOST": server.hostname or "127.0.0.1",
            "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USER": server.username or "",
            "DAGSTER_PG_PASSWORD": server.password or "",
        }
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
