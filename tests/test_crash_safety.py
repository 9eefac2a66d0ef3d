"""Crash safety (issue 5): a refresh killed at any point leaves the previous publication whole, and the
next run converges to exactly the publication of an uninterrupted run.

Data root A gets one clean run of a small sample: the reference. Another root starts with an *earlier*
publication that differs from the reference in every table with more than one row, so a mix of the two
(an old indicators.parquet beside a new marts.duckdb, say) matches neither digest. `decentwork run` is
then started and its whole process group SIGKILLed during ingestion, during dbt and during export; after
every kill data/marts must be exactly the earlier publication or exactly the reference; a last run left
to finish must publish the reference. Digests cover every published file's bytes and marts.duckdb's
tables row by row (the DuckDB file's own bytes hold page layout, not content).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from assets import publish as pub
from decentwork.sample import MANIFEST, generate
from tests.conftest import decentwork, shared_folder

KEY = "crash-safety-test-key-of-32-characters"

pytestmark = pytest.mark.slow  # several full runs: run by CI after `make test` (.ci/run), or with -m slow


def run_env(root: Path) -> dict:
    return os.environ | {
        "DECENTWORK_DATA_DIR": str(root),
        "DECENTWORK_PSEUDONYM_KEY": KEY,
        "DECENTWORK_DATA_DOCS": "off",
    }


def decentwork_run(root: Path, *args: str) -> str:
    """`decentwork run` to completion, in this process (tests/conftest.py: `decentwork`); its output. The runs that
    are killed are child processes (`_kill_when`); the runs that converge after them need not be."""
    done = decentwork(root, "run", *args, key=KEY, env={"DECENTWORK_DATA_DOCS": "off"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def publication_digest(marts: Path) -> dict[str, str]:
    """Content digest of a publication: file bytes, and marts.duckdb's tables row by row."""
    digest = {}
    for f in sorted(marts.iterdir()):
        if f.is_file() and f.suffix in {".parquet", ".csv"}:
            digest[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
        elif f.is_file() and f.suffix == ".xml":  # the SDMX structure: all but the time it was prepared
            digest[f.name] = hashlib.sha256(
                re.sub(rb"<mes:Prepared>[^<]*</mes:Prepared>", b"", f.read_bytes())
            ).hexdigest()
    with duckdb.connect(str(marts / "marts.duckdb"), read_only=True) as con:
        for (table,) in con.execute("select table_name from information_schema.tables order by 1").fetchall():
            rows = con.execute(f"select * from {table} order by all").fetchall()
            digest[f"marts.duckdb:{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digest


def reference_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One clean run of a small sample, shared by this module, test_idempotency and test_spark within a session (and
    by pytest-xdist's workers: the first builds it under a lock)."""
    from filelock import FileLock

    base = shared_folder(tmp_path_factory) / "crash-reference"
    a = base / "a" / "data"
    with FileLock(str(base) + ".lock"):
        if not (base / "done").exists():
            shutil.rmtree(base, ignore_errors=True)
            manifest = generate(base / "raw", factories=12, workers=1000, months=2)
            shutil.copytree(base / "raw", a / "raw")  # copytree keeps the files' times: delivery order is kept
            started = time.perf_counter()
            decentwork_run(a)
            (base / "seconds").write_text(str(time.perf_counter() - started))
            (base / "done").touch()
        else:
            manifest = json.loads((base / "raw" / MANIFEST).read_text(encoding="utf-8"))
    return {
        "base": base,
        "raw": base / "raw",
        "root": a,
        "manifest": manifest,
        "digest": publication_digest(a / "marts"),
        "seconds": float((base / "seconds").read_text()),  # in this process: a child process adds its start-up
    }


def fresh_root(reference: dict, name: str) -> Path:
    root = reference["base"] / name / "data"
    shutil.rmtree(root.parent, ignore_errors=True)
    shutil.copytree(reference["raw"], root / "raw")
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return reference_run(tmp_path_factory)


def _no_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quality gates are tested elsewhere; here they would only cost time."""
    monkeypatch.setattr(pub, "_quality", lambda *args: {"success": True, "errors": [], "warnings": []})


def _earlier_warehouse(reference: dict, target: Path) -> Path:
    """The reference warehouse with every fifth row of every mart gone: an earlier state that differs."""
    shutil.copy(reference["root"] / "warehouse.duckdb", target)
    with duckdb.connect(str(target)) as con:
        for table in pub.published_tables(con):
            con.execute(f"delete from marts.{table} where rowid % 5 = 0")
    return target


@pytest.fixture(scope="module")
def earlier(reference: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An earlier publication, made by the real export code, and its digest."""
    folder = tmp_path_factory.mktemp("earlier")
    warehouse = _earlier_warehouse(reference, folder / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        _no_gates(mp)
        pub.publish(warehouse, folder / "marts")
    digest = publication_digest(folder / "marts")
    changed = {name for name in digest if digest[name] != reference["digest"].get(name)}
    assert {"indicators.parquet", "indicators.csv", "marts.duckdb:indicators"} <= changed
    return {"warehouse": warehouse, "marts": folder / "marts", "digest": digest}


def _with_earlier_publication(reference: dict, earlier: dict, name: str) -> Path:
    root = fresh_root(reference, name)
    shutil.copytree(earlier["marts"], root / "marts")
    return root


def _whole(marts: Path, allowed: list[dict], when: str) -> None:
    """data/marts is exactly one of the allowed publications (absent counts as the empty one)."""
    if not marts.exists() or not (marts / "indicators.parquet").exists():
        assert {} in allowed, f"{when}: no publication in {marts}"
        assert not marts.exists() or not any(marts.glob("*.parquet")), f"{when}: a partial publication in {marts}"
        return
    assert publication_digest(marts) in allowed, f"{when}: {marts} is not one whole publication"


# ------------------------------------------------------------- publish() interrupted at each step


class Killed(BaseException):
    """Stands for SIGKILL: raised at a chosen step, caught by nobody in publish()."""


STEPS = ["export", "gates", "exchange", "rename-1", "rename-2"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames-fallback"])
@pytest.mark.parametrize("step", STEPS)
def test_publish_killed_at_any_step_leaves_one_whole_publication(
    reference, earlier, tmp_path, monkeypatch, step, exchange
):
    new_warehouse = reference["root"] / "warehouse.duckdb"
    out = tmp_path / "data" / "marts"
    shutil.copytree(earlier["marts"], out)
    _no_gates(monkeypatch)
    if not exchange:
        monkeypatch.setattr(pub, "_exchange", lambda a, b: False)
    calls = {"rename": 0}
    real_rename, real_exchange, real_quality, real_db = pub._rename, pub._exchange, pub._quality, pub._write_marts_db

    def rename(source, target):
        calls["rename"] += 1
        if step == f"rename-{calls['rename']}":
            raise Killed
        real_rename(source, target)

    def at(name, real):
        def wrapped(*args):
            if step == name:
                raise Killed
            return real(*args)

        return wrapped

    monkeypatch.setattr(pub, "_rename", rename)
    monkeypatch.setattr(pub, "_exchange", at("exchange", real_exchange))
    monkeypatch.setattr(pub, "_quality", at("gates", real_quality))
    monkeypatch.setattr(pub, "_write_marts_db", at("export", real_db))  # parquet and csv written, the rest not
    try:
        pub.publish(new_warehouse, out)
        killed = False
    except Killed:
        killed = True
    assert killed == (step != "rename-2" or not exchange)  # the exchange path renames once
    if exchange or step != "rename-2":
        _whole(out, [earlier["digest"], reference["digest"]], f"killed before {step}")
    else:  # the fallback's one gap: the old publication moved aside, the new one not yet in
        assert not out.exists() and (out.parent / pub.PREVIOUS / "indicators.parquet").exists()

    monkeypatch.setattr(pub, "_rename", real_rename)
    monkeypatch.setattr(pub, "_quality", real_quality)
    monkeypatch.setattr(pub, "_write_marts_db", real_db)
    _no_gates(monkeypatch)
    monkeypatch.setattr(pub, "_exchange", real_exchange if exchange else (lambda a, b: False))
    pub.publish(new_warehouse, out)
    assert publication_digest(out) == reference["digest"]
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(["marts", pub.PREVIOUS]), (
        "a killed run's leftovers survived"
    )


# ------------------------------------------------------------- `decentwork run` killed by SIGKILL


def _kill_when(root: Path, marker: str, then: float = 0.0, candidate: bool = False) -> str:
    """Start `decentwork run`; once a line containing `marker` is printed (and, with `candidate`, once the
    export folder exists) wait `then` seconds and SIGKILL the whole process group. Returns the output seen."""
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "decentwork"), "run"],
        env=run_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if marker in line:
                break
        else:
            pytest.fail(f"the run ended before {marker!r}:\n" + "".join(seen[-30:]))
        deadline = time.monotonic() + 120
        while candidate and not list(root.glob(pub.CANDIDATE_PREFIX + "*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(then)
        assert process.poll() is None, "the run finished before the kill"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
    return "".join(seen)


def _claimed_warehouse_slots(root: Path) -> list[str]:
    """Runs holding a slot of the "warehouse" pool, read from the SQLite instance (faster than importing Dagster)."""
    with sqlite3.connect(root / "dagster" / "history" / "runs" / "index.db") as con:
        return [
            r[0]
            for r in con.execute(
                "select run_id from concurrency_slots where concurrency_key = 'warehouse' and run_id is not null"
            )
        ]


RECOVERED = "was interrupted (its process is gone): marked failed, its warehouse slot freed"


# where a run is killed: the line it prints there, whether the kill waits for the export folder, and what it leaves
KILL_POINTS = {
    "ingestion": ("staging__payroll - payroll/", False),  # some countries' staging rewritten, others not
    "dbt": ("START sql table model marts.indicators", False),  # the warehouse half rebuilt, its pool slot held
    "export": ("--select path:models/marts finished", True),  # the candidate publication half written
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_in_ingestion_dbt_or_export_keeps_a_whole_publication_and_the_next_converges(
    reference, earlier, point
):
    """One kill point a test (each on its own data root, so that pytest-xdist's workers share them out); the run
    after the kill marks the killed one failed, frees its warehouse slot and publishes the reference's bytes."""
    root = _with_earlier_publication(reference, earlier, f"killed-in-{point}")
    allowed = [earlier["digest"], reference["digest"]]
    marker, candidate = KILL_POINTS[point]
    _kill_when(root, marker, then=0.5 if candidate else 0.0, candidate=candidate)
    _whole(root / "marts", allowed, f"killed in {point}")
    if point == "dbt":
        assert _claimed_warehouse_slots(root), "expected the killed run to still hold the warehouse pool slot"
    if point == "export":
        assert list(root.glob(pub.CANDIDATE_PREFIX + "*")), "the kill was meant to land during the export"

    out = decentwork_run(root)
    assert RECOVERED in out and not _claimed_warehouse_slots(root)
    assert publication_digest(root / "marts") == reference["digest"]
    assert not list(root.glob(pub.CANDIDATE_PREFIX + "*"))


@pytest.mark.scale
def test_random_kill_loop_converges_to_the_clean_run(reference, earlier):
    """Kills at seeded random times over a whole run; a few land after the swap (then the new one is whole)."""
    rng = random.Random(20261123)
    root = _with_earlier_publication(reference, earlier, "random")
    allowed = [earlier["digest"], reference["digest"]]
    command = [str(Path(sys.executable).parent / "decentwork"), "run"]
    for n in range(12):
        delay = rng.uniform(1.0, (reference["seconds"] + 15) * 1.1)  # 15 s: a child process's start-up
        process = subprocess.Popen(
            command, env=run_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        _whole(root / "marts", allowed, f"kill {n} at {delay:.1f}s")
    decentwork_run(root)
    assert publication_digest(root / "marts") == reference["digest"]
