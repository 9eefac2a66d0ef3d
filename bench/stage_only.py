"""Time staging alone (assets/ingestion/stage.py: stage_and_quarantine) of one source and country, from the validated
parts a refresh left in the ingestion cache (<data>/.ingest-cache/<source>/<ISO3>/), into a scratch data root. For
before/after pairs of a staging change on the same parts, time the two sides in turn and compare the medians:

    for i in 1 2 3 4 5; do
        /usr/bin/time -v <before>/.venv/bin/python <after>/bench/stage_only.py <before> <data> /tmp/stage-b
        /usr/bin/time -v <after>/.venv/bin/python <after>/bench/stage_only.py <after> <data> /tmp/stage-a
    done

`<checkout>` is the code timed (its assets/ are imported); `<data>` a data root a refresh has staged with the
cache (bench/run.py leaves one per scale factor); the source and country default to payroll and KHM. Prints the
wall seconds and the rows staged.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(checkout: str, data: str, scratch: str, source: str = "payroll", country: str = "KHM") -> None:
    sys.path.insert(0, checkout)
    from assets.ingestion.stage import LoadReport, stage_and_quarantine
    from decentwork.settings import Paths

    parts = sorted((Path(data) / ".ingest-cache" / source / country).glob("*.parquet"))
    if not parts:
        sys.exit(f"no cached parts of {source}/{country} under {data}/.ingest-cache: run a refresh first")
    report = LoadReport(source, country)
    started = time.perf_counter()
    stage_and_quarantine(source, country, Paths(Path(scratch)), report, parts)
    print(f"{time.perf_counter() - started:.2f}s {report.rows_staged} rows staged from {len(parts)} parts", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 6):
        sys.exit(__doc__)
    main(*sys.argv[1:])
