"""Faults a national data team meets (issue 19): a warehouse file that cannot be opened, a full disk.

Each recovers on the next run: the warehouse is derived from staging, so an unusable one is set aside and
rebuilt; a full disk ends the run with one line naming the folder and the space it needs, leaves the
previous publication as it was, and the next run with room publishes what a clean run publishes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from decentwork.sample import generate
from tests.conftest import Done, decentwork
from tests.test_crash_safety import publication_digest

KEY = "faults-test-key-of-at-least-32-characters"

pytestmark = pytest.mark.slow  # several full runs: run by CI after `make test` (.ci/run), or with -m slow


def _run(root: Path) -> Done:
    """`decentwork run` in this process (tests/conftest.py)."""
    return decentwork(root, "run", key=KEY, env={"DECENTWORK_DATA_DOCS": "off"})


def _run_as_a_process(root: Path) -> subprocess.CompletedProcess:
    """`decentwork run` as users start it: what it prints last on a full disk is the command's own behaviour."""
    env = {**os.environ, "DECENTWORK_DATA_DIR": str(root), "DECENTWORK_PSEUDONYM_KEY": KEY}
    return subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), "run"], env=env, capture_output=True, text=True, timeout=600
    )


def _sample(root: Path) -> None:
    generate(root / "raw", factories=6, workers=300, months=1, countries=("KHM",))


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 200 MB tmpfs for the data root (mounting needs root, which CI has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200M", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_an_unusable_warehouse_and_a_full_disk_recover_on_the_next_run(small_disk: Path):
    root = small_disk / "data"
    _sample(root)
    assert _run(root).returncode == 0
    clean = publication_digest(root / "marts")  # what these deliveries publish

    # a warehouse file DuckDB cannot open: set aside, rebuilt from staging, the same publication
    (root / "warehouse.duckdb").write_bytes(b"this is no DuckDB file" * 1000)
    done = _run(root)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-3000:]
    assert "could not be opened" in said and "rebuilt from staging" in said
    assert publication_digest(root / "marts") == clean and list(root.glob("warehouse.duckdb.unusable-*"))

    # a full disk: one line, naming the folder and the space needed; the publication as it was
    filler = small_disk / "filler"
    with filler.open("wb") as fh:  # leave about 2 MB free
        free = shutil.disk_usage(small_disk).free - 2 * 2**20
        while free > 0:
            fh.write(b"\0" * min(free, 8 * 2**20))
            free -= 8 * 2**20
    for staged in (root / "staging").rglob("*.parquet"):  # nothing is current: the run must rewrite it all
        os.utime(staged, (1, 1))
    (root / "warehouse.build-state.json").unlink(missing_ok=True)
    (root / "published-from.json").unlink(missing_ok=True)  # nor is the publication: a refresh, not "nothing new"
    done = _run_as_a_process(root)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("FAILED: the disk holding")]
    assert done.returncode != 0
    assert len(lines) == 1 and str(root) in lines[0] and "MB there" in lines[0], (done.stdout + done.stderr)[-3000:]
    # the run ends with that line (the libraries writing logs on the full disk may complain before it)
    assert done.stdout.strip().splitlines()[-1].startswith("FAILED: the disk holding")
    assert publication_digest(root / "marts") == clean

    # room again: the next run converges to the clean publication
    filler.unlink()
    done = _run(root)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert publication_digest(root / "marts") == clean
