"""Time one dbt build of the warehouse models in process, as the refresh runs it (assets.dbt_runner.invoke): no
marts, no unit tests. For before/after pairs of a dbt change on the same staged files, time the two sides in turn
(before, after, before, after, ...; `/usr/bin/time -v` gives each run's peak memory) and compare the medians:

    for i in 1 2 3; do
        /usr/bin/time -v <before>/.venv/bin/python <before>/bench/dbt_build.py <data-before> full
        /usr/bin/time -v <after>/.venv/bin/python <after>/bench/dbt_build.py <data-after> full
    done

`<data>` is a data root that a refresh has staged (bench/run.py leaves one per scale factor). `full`: every model
rebuilt (`--full-refresh`); `KHM` (any ISO3 code): only that country's slices, as a national refresh of it;
`KHM=2025-12` (months separated by spaces): that country's slices with only those months of its worker-months, as
a refresh after a delivery confined to those months (assets/dbt_models.py: plan_variables). dbt's
artifacts go to <data>/dbt-build-<checkout>, so two checkouts keep their own. Prints the build's wall seconds.

The `__main__` guard matters: without it, one timed process ran a second, concurrent build (most likely a child
started by `spawn` during the build imports the main module again). The README's step-2 pairs were taken that way.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(data: str, mode: str) -> None:
    checkout = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(checkout))
    os.chdir(checkout)
    os.environ["DECENTWORK_DATA_DIR"] = data
    from assets.dbt_runner import invoke

    args = ["build", "--exclude-resource-type", "unit_test", "--exclude", "path:models/marts"]
    env = {"DECENTWORK_DATA_DIR": data}
    if mode == "full":
        args.append("--full-refresh")
    else:
        args += ["--exclude-resource-type", "seed"]
        country, _, months = mode.partition("=")
        env["DECENTWORK_REFRESH_COUNTRIES"] = country
        if months:
            env["DECENTWORK_REFRESH_MONTHS"] = mode
    started = time.perf_counter()
    done = invoke(args, Path(data) / f"dbt-build-{checkout.name}", env)
    if not done.success:
        sys.exit("dbt failed: " + "; ".join(done.problems))
    print(f"{mode} {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
