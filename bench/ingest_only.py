"""Time ingestion alone (assets/ingestion/ingest.py: `ingest`) of one source for some countries, every file read
again (no part cache), as the ingestion asset schedules it: the countries on `DECENTWORK_INGEST_THREADS` threads
(default 2), a country alone validating that many files at once. For before/after pairs of an ingestion change on
the same raw files, time the two sides in turn and compare the medians:

    for i in 1 2 3; do
        /usr/bin/time -v <before>/.venv/bin/python <after>/bench/ingest_only.py <before> <data> /tmp/in-b payroll KHM
        /usr/bin/time -v <after>/.venv/bin/python <after>/bench/ingest_only.py <after> <data> /tmp/in-a payroll KHM
    done

`<checkout>` is the code timed (its assets/ are imported); `<data>` a data root a refresh has staged (bench/run.py
leaves one per scale factor: its delivered files and its staged factory register are used); `<scratch>` a folder
that gets hard links to those deliveries and a copy of the register, and the staging, quarantine and cache the load
writes (emptied first). The pseudonym key is bench/run.py's. Prints the wall and CPU seconds and the rows staged per
country.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

KEY = b"bench-key-not-secret-of-32-characters"  # bench/run.py's


def _scratch_root(data: Path, scratch: Path, source: str, countries: list[str]) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    for country in countries:
        delivered = data / "raw" / source / country
        if not delivered.is_dir():
            sys.exit(f"nothing delivered under {delivered}: run bench/run.py for this scale first")
        (scratch / "raw" / source).mkdir(parents=True, exist_ok=True)
        shutil.copytree(delivered, scratch / "raw" / source / country, copy_function=os.link)
    shutil.copytree(data / "staging" / "factories", scratch / "staging" / "factories")
    shutil.copy(data / "staging" / ".pseudonym-key", scratch / "staging" / ".pseudonym-key")


def main(checkout: str, data: str, scratch: str, source: str, countries: str) -> None:
    sys.path.insert(0, checkout)
    from assets.ingestion.ingest import ingest
    from decentwork.settings import Paths, ingest_threads

    wanted = countries.split(",")
    _scratch_root(Path(data), Path(scratch), source, wanted)
    paths, threads = Paths(Path(scratch)), ingest_threads()
    per_country = max(1, threads // len(wanted))
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    with ThreadPoolExecutor(max_workers=min(threads, len(wanted))) as pool:
        reports = list(
            pool.map(
                lambda country: ingest(
                    source, country, paths, KEY, log=lambda _: None, threads=per_country, reuse=False
                ),
                wanted,
            )
        )
    wall, used = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    staged = ", ".join(f"{r.country} {r.rows_staged}" for r in reports)
    print(f"{source}: {wall:.2f}s wall, {seconds:.2f}s CPU; rows staged: {staged}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
