"""Operations timings (issue 20): how long `decentwork status` takes to answer, and what a refresh costs when every
country is due but nothing changed, beside a first full refresh.

    .venv/bin/python bench/operations.py [--workdir /tmp/bench-ops] [--repeat 5]

On the small sample (20 factories, 2,000 workers, 2 months, 5 countries) of a fresh data root:
1. `decentwork run` (first full refresh: every delivery read);
2. `decentwork run` again (nothing changed: every country kept as staged, dbt rebuilds no country);
3. `decentwork status`, `--repeat` times (wall time of the whole command, Python's start included).
Writes bench/results/<date>-operations.md. The daemon with every schedule due at once is timed by
tests/test_daemon.py, which prints the seconds from the due minute to the end of the refresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from decentwork.sample import generate  # noqa: E402


def timed(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "decentwork"), *args], env=env, capture_output=True, text=True, cwd=REPO
    )
    if done.returncode != 0:
        raise SystemExit(f"decentwork {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/bench-operations")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(args.workdir) / "data"
    shutil.rmtree(root.parent, ignore_errors=True)
    generate(root / "raw", factories=20, workers=2000, months=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "DECENTWORK_"))}
    env |= {"DECENTWORK_DATA_DIR": str(root), "DECENTWORK_PSEUDONYM_KEY": "bench-operations-key-of-32-characters!"}
    first = timed(env, "run")
    print(f"first full refresh: {first:.1f} s", flush=True)
    unchanged = timed(env, "run")
    print(f"refresh with nothing changed: {unchanged:.1f} s", flush=True)
    status = [timed(env, "status") for _ in range(args.repeat)]
    print(f"status: median {statistics.median(status):.2f} s, max {max(status):.2f} s over {len(status)}", flush=True)
    out = REPO / "bench" / "results" / f"{dt.date.today().isoformat()}-operations.md"
    out.write_text(
        f"# Operations timings, {dt.date.today().isoformat()}\n\n"
        f"`.venv/bin/python bench/operations.py --repeat {args.repeat}` "
        f"on {os.cpu_count()} cores; small sample (20 factories, "
        f"2,000 workers, 2 months, 5 countries).\n\n"
        f"| what | seconds |\n|---|---|\n"
        f"| first full refresh (`decentwork run`) | {first:.1f} |\n"
        f"| refresh with nothing changed (`decentwork run` again) | {unchanged:.1f} |\n"
        f"| `decentwork status`, median of {len(status)} | {statistics.median(status):.2f} |\n"
        f"| `decentwork status`, slowest | {max(status):.2f} |\n",
        encoding="utf-8",
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
