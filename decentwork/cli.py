"""`decentwork`: the command line of the warehouse.

    decentwork run [--country ISO3]   ingest, model and publish through Dagster (one execution path)
    decentwork sample [--scale SF]    write seeded sample extracts under data/raw/
    decentwork ui                     the Dagster UI on the same instance
    decentwork dbt-parse              (re)build the dbt manifest the Dagster definitions load
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from decentwork.settings import DBT_PROJECT_DIR, RAW_SUFFIXES, REPO_ROOT, SOURCES, Paths, export_environment


def _say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- dbt manifest


def _dbt_inputs_newest() -> float:
    newest = 0.0
    for folder in ("models", "macros", "seeds", "tests"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        if (DBT_PROJECT_DIR / name).exists():
            newest = max(newest, (DBT_PROJECT_DIR / name).stat().st_mtime)
    return newest


def ensure_manifest(force: bool = False) -> None:
    """Parse the dbt project when its manifest is missing or older than any project file."""
    from pipelines.resources import dbt_executable

    export_environment()
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not force and manifest.exists() and manifest.stat().st_mtime >= _dbt_inputs_newest():
        return
    _say("parsing the dbt project ...")
    done = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"dbt parse failed:\n{done.stdout}\n{done.stderr}")


# ---------------------------------------------------------------- deliveries


def delivered_files(p: Paths) -> list[Path]:
    if not p.raw.is_dir():
        return []
    return [f for f in p.raw.rglob("*") if f.is_file() and f.suffix.lower() in RAW_SUFFIXES and not f.name.startswith(".")]


def unknown_country_folders(p: Paths, known: set[str]) -> list[str]:
    """Folders under data/raw/<source>/ that are no programme country: named in an error, never loaded."""
    found = []
    for source in SOURCES:
        folder = p.raw / source
        if folder.is_dir():
            found += [f"{source}/{d.name}" for d in sorted(folder.iterdir()) if d.is_dir() and d.name not in known]
    return found


# ---------------------------------------------------------------- commands


def cmd_sample(args: argparse.Namespace) -> None:
    from decentwork import sample

    p = export_environment()
    params = sample.scale_params(args.scale) if args.scale else {}
    for name in ("factories", "workers", "months"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    out = Path(args.out).resolve() if args.out else p.raw
    _say(f"generating sample extracts into {out} ...")
    started = time.perf_counter()
    manifest = sample.generate(out, seed=args.seed, progress=_say, **params)
    _say(f"done in {time.perf_counter() - started:.1f}s: {len(manifest.get('bad_rows', []))} planted bad rows (see {out}/.sample-manifest.json)")


def cmd_run(args: argparse.Namespace) -> int:
    p = export_environment()
    if not delivered_files(p):
        if os.environ.get("DECENTWORK_DATA_DIR") and p.root != (REPO_ROOT / "data").resolve() and not args.sample:
            sys.exit(f"no extracts under {p.raw}: deliver files as raw/<source>/<ISO3>/*.csv|.xlsx|.parquet, or pass --sample")
        from decentwork import sample

        _say(f"{p.raw} is empty: generating the default sample extracts first ...")
        sample.generate(p.raw, progress=_say)

    ensure_manifest()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    import dagster as dg

    from assets.ingest import programme_countries
    from pipelines.definitions import defs

    known = set(programme_countries())
    unknown = unknown_country_folders(p, known)
    for folder in unknown:
        _say(f"ERROR raw/{folder}: not a programme country code, nothing in it is loaded. Fix: rename the folder to the "
             f"country's ISO3 code ({', '.join(sorted(known))}) or add the country to dbt_project/seeds/ref_countries.csv")
    if args.country and args.country not in known:
        sys.exit(f"unknown country {args.country!r}: use one of {', '.join(sorted(known))}")

    countries = sorted(known)
    tags = (
        {"dagster/partition": args.country}
        if args.country
        else {"dagster/asset_partition_range_start": countries[0], "dagster/asset_partition_range_end": countries[-1]}
    )
    scope = args.country or "all countries"
    _say(f"refreshing {scope}: data root {p.root}")
    started = time.perf_counter()
    job = defs.resolve_job_def("refresh")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        partition_key=args.country,
        tags=None if args.country else tags,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    elapsed = time.perf_counter() - started
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        _say(f"FAILED after {elapsed:.0f}s in step(s) {failed}; the previous publication in {p.marts} is unchanged.")
        return 1
    _summary(p, elapsed, scope)
    return 1 if unknown else 0


def _summary(p: Paths, elapsed: float, scope: str) -> None:
    import polars as pl

    _say(f"\nrefreshed {scope} in {elapsed:.0f}s")
    reports = sorted(p.quarantine.glob("*/country=*/files.parquet"))
    if reports:
        files = pl.concat([pl.read_parquet(f) for f in reports], how="vertical")
        by_status = dict(files.group_by("status").len().iter_rows())
        _say(
            f"  deliveries: {files.height} files ({by_status.get('loaded', 0)} loaded, {by_status.get('duplicate', 0)} duplicate, "
            f"{by_status.get('rejected', 0)} rejected); rows loaded {files['rows_loaded'].sum():,}, "
            f"quarantined {files['rows_quarantined'].sum():,}, superseded {files['rows_superseded'].sum():,}"
        )
        for row in files.filter(pl.col("status") == "rejected").iter_rows(named=True):
            _say(f"  REJECTED {row['file']}: {row['message']}")
    indicators = p.marts / "indicators.parquet"
    if indicators.exists():
        ind = pl.read_parquet(indicators)
        published = ind.filter(pl.col("obs_value").is_not_null())
        countries = sorted(set(ind["ref_area"].unique().to_list()) - {"X_BW"})
        _say(f"  indicators: {ind.height:,} rows ({published.height:,} with a value), {ind['indicator'].n_unique()} codes, "
             f"countries {', '.join(countries)}")
    _say(f"  marts: {p.marts}  (quarantine: {p.quarantine})")


def cmd_ui(args: argparse.Namespace) -> None:
    export_environment()
    ensure_manifest()
    dagster = Path(sys.executable).parent / "dagster"
    os.execv(str(dagster), [str(dagster), "dev", "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)])


def main(argv: list[str] | None = None) -> int:
    logging.captureWarnings(True)  # library deprecation chatter goes to the (quiet) warnings logger
    parser = argparse.ArgumentParser(prog="decentwork", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="ingest, model and publish through Dagster")
    run.add_argument("--country", help="refresh one country (ISO3) only")
    run.add_argument("--sample", action="store_true", help="generate the default sample first when the data root has no extracts")

    smp = sub.add_parser("sample", help="write seeded sample extracts")
    smp.add_argument("--scale", type=float, help="scale factor: 1 = the full programme (1,700 factories, 2.4M workers, 12 months)")
    smp.add_argument("--factories", type=int)
    smp.add_argument("--workers", type=int)
    smp.add_argument("--months", type=int)
    smp.add_argument("--seed", type=int, default=20251231)
    smp.add_argument("--out", help="raw folder to write (default: <data root>/raw)")

    ui = sub.add_parser("ui", help="start the Dagster UI on the same instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)

    sub.add_parser("dbt-parse", help="(re)build the dbt manifest")

    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "sample":
        cmd_sample(args)
    elif args.command == "ui":
        cmd_ui(args)
    elif args.command == "dbt-parse":
        ensure_manifest(force=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
