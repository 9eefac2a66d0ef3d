"""The `decentwork` command's process ends without walking its heap (decentwork/cli.py: `entry`): everything a command
prints reaches the pipe, its exit status is kept (a return, an argparse error, a --help), and the heap is frozen
before the interpreter's exit. The refreshes through the command itself (crash safety, idempotency, the daemon, the
slow tests) check that what a refresh writes is complete after such an exit."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import decentwork

REPO = Path(__file__).parents[1]
# an atexit handler registered before the command runs reports, after it, how many objects were frozen
PROBE = (
    "import atexit, gc, sys; from decentwork.cli import entry; "
    "atexit.register(lambda: print(f'frozen={gc.get_freeze_count()}', file=sys.stderr)); "
    "sys.argv = ['decentwork', *sys.argv[1:]]; sys.exit(entry())"
)


def test_the_installed_command_runs_entry():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["decentwork"] == "decentwork.cli:entry"
    installed = Path(sys.executable).parent / "decentwork"
    assert "entry()" in installed.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["codes", "--format", "csv"], 0),  # a return
        (["codes", "--help"], 0),  # argparse's sys.exit(0)
        (["no-such-command"], 2),  # argparse's error
    ],
)
def test_a_command_prints_everything_keeps_its_status_and_freezes_the_heap(args, status, tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == status, done.stderr[-2000:]
    frozen = [line for line in done.stderr.splitlines() if line.startswith("frozen=")]
    assert len(frozen) == 1 and int(frozen[0].removeprefix("frozen=")) > 1000, done.stderr[-2000:]
    if status == 0 and "--help" not in args:
        in_process = decentwork(tmp_path, *args)
        assert in_process.returncode == 0
        assert len(done.stdout) > 5000 and done.stdout == in_process.stdout  # every line reached the pipe
