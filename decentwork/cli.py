"""`decentwork`: the command line of the warehouse.

decentwork run [--country ISO3] [--reingest]   ingest what changed, model and publish through Dagster
decentwork sample [--scale SF]    write seeded sample extracts under data/raw/
decentwork indicators [filters]   the long indicator table, filtered, as csv | parquet | sdmx
decentwork query "SQL"            read-only SQL on the published marts (data/marts/marts.duckdb)
decentwork status                 last refresh per country, rows, quarantine, runs, failures, failing checks
decentwork pause ISO3 / resume ISO3   hold a country's deliveries (no refresh reads them) / release them
decentwork check FILE --source S --country ISO3   validate one delivery as a run would, writing nothing
decentwork ui                     the Dagster UI and daemon on the same instance (daemon / webserver: one each)
decentwork dbt-parse              (re)build the dbt manifest the Dagster definitions load
decentwork catalogue [--check]    write docs/indicators.md and the marts' dbt docs from the catalogue seeds
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from decentwork.settings import DBT_PROJECT_DIR, REPO_ROOT, Paths, export_environment


def _say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- dbt manifest


def ensure_manifest(force: bool = False) -> None:
    """Parse the dbt project when its manifest is missing or older than any project file."""
    from assets.dbt_project import dbt_executable, project_files

    export_environment()
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not force and manifest.exists() and manifest.stat().st_mtime >= max(f.stat().st_mtime for f in project_files()):
        return
    _say("parsing the dbt project ...")
    done = subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"dbt parse failed:\n{done.stdout}\n{done.stderr}")


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
    if getattr(args, "risk_signal", None):
        params["risk_signal"] = args.risk_signal
    manifest = sample.generate(out, seed=args.seed, progress=_say, **params)
    _say(
        f"done in {time.perf_counter() - started:.1f}s: {len(manifest.get('bad_rows', []))} "
        f"planted bad rows (see {out}/.sample-manifest.json)"
    )


def cmd_run(args: argparse.Namespace) -> int:
    p = export_environment()
    from assets import publication_record
    from assets.deliveries import delivered_files, delivery_fingerprints, paused_countries
    from assets.ingestion.pseudonyms import KeyRefused, key_fingerprint, pseudonym_key
    from decentwork.settings import ingest_threads

    if not delivered_files(p):
        if os.environ.get("DECENTWORK_DATA_DIR") and p.root != (REPO_ROOT / "data").resolve() and not args.sample:
            sys.exit(
                f"no extracts under {p.raw}: deliver files as "
                "raw/<source>/<ISO3>/*.csv|.xlsx|.parquet, or pass --sample"
            )
        from decentwork import sample

        _say(f"{p.raw} is empty: generating the default sample extracts first ...")
        sample.generate(p.raw, progress=_say)
    try:  # refuse before any run starts, not halfway through staging
        key = pseudonym_key(p)
        ingest_threads()
        paused = paused_countries(p)
    except (KeyRefused, ValueError) as exc:
        sys.exit(f"refusing to run: {exc}")

    from assets.deliveries import scan_deliveries
    from schemas.reference import programme_countries

    known = set(programme_countries())
    country = args.country.strip().upper() if args.country else None
    if country and country not in known:
        _usage(f"unknown country {args.country!r}: use one of {', '.join(sorted(known))}")
    delivered, unknown = scan_deliveries(p, known)
    if country and country not in delivered:
        _say(f"{country} has no deliveries under {p.raw}/<source>/{country}/: nothing to refresh, nothing changed")
        return 0
    if country and country in paused:
        _say(
            f"{country} is paused since {paused[country]['since']} ({paused[country]['reason']}): nothing refreshed. "
            f"`decentwork resume {country}` resumes it"
        )
        return 0

    for folder in unknown:
        _say(
            f"ERROR raw/{folder}: not a programme country code, nothing in it is loaded. Fix: rename the folder to the "
            f"country's ISO3 code ({', '.join(sorted(known))}) or "
            "add the country to dbt_project/seeds/ref_countries.csv"
        )
    for held, why in sorted(paused.items()):
        _say(f"{held} is paused since {why['since']} ({why['reason']}): its new deliveries are not read")

    scope = country or "all countries"
    made = publication_record.made_with(key_fingerprint(key))
    if not args.reingest:  # nothing new since the last publication: no Dagster, no dbt, no run
        deliveries = {c: f for c, f in delivery_fingerprints(p, known).items() if c not in paused}
        published_at = publication_record.nothing_new(p, deliveries, made, country)
        if published_at:
            _say(
                f"nothing to refresh for {scope}: the publication of {published_at} already holds these deliveries "
                f"(no file new or changed since, the same code and settings) in {p.marts}. "
                "`decentwork run --reingest` reads every delivery again"
            )
            return 1 if unknown else 0

    ensure_manifest()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    from pipelines.launch import refresh

    _say(f"refreshing {scope}: data root {p.root}" + (" (every delivery read again)" if args.reingest else ""))
    outcomes_before = _file_outcomes(p)
    done = refresh(p, known, country, args.reingest, say=_say, made_with=made)
    if done.disk_full:
        _say(_disk_full_line(p))
        return 1
    if done.failed:
        _say(
            f"FAILED after {done.seconds:.0f}s in step(s) {done.failed}; "
            f"the previous publication in {p.marts} is unchanged."
        )
        return 1
    _summary(p, done.seconds, scope, outcomes_before)
    _say("  stages: " + done.stages)
    kept = _kept_previous(p)
    for held, errors in kept.items():
        failed = "; ".join(e.split(", e.g.")[0] for e in errors)
        _say(
            f"ERROR {held} keeps its previous publication: its new cells failed the quality gate(s): {failed} "
            f"(details: {p.marts / 'quality' / 'last_check.json'})"
        )
    return 1 if unknown or kept else 0


def _kept_previous(p: Paths) -> dict[str, list[str]]:

    check = p.marts / "quality" / "last_check.json"
    report = json.loads(check.read_text(encoding="utf-8")).get("disclosure", {}) if check.exists() else {}
    return report.get("countries_kept_previous", {})


def _disk_full_line(p: Paths) -> str:
    """One line for a full disk: the folder, what is free, what a refresh of these deliveries needs there."""
    import shutil

    from assets.deliveries import delivered_files

    free = shutil.disk_usage(p.root).free
    delivered = sum(f.stat().st_size for f in delivered_files(p))
    # staging, quarantine, warehouse, the publication and its candidate, run storage: about twice the deliveries
    # on the default sample (76 MB beside 28 MB of raw files), plus room for DuckDB to spill
    needed = max(2 * delivered, 64 * 2**20)
    return (
        f"\nFAILED: the disk holding {p.root} is full ({free / 2**20:.0f} "
        "MB free); a refresh of these deliveries needs "
        f"about {needed / 2**20:.0f} MB there. Free space or move DECENTWORK_DATA_DIR, then run again; the previous "
        f"publication in {p.marts} is unchanged."
    )


def _file_reports(p: Paths, country: str | None = None):
    """Every delivered file's last outcome (the per-file reports of ingestion), or None before any load."""
    import polars as pl

    reports = p.file_reports(country or "*")
    return pl.concat([pl.read_parquet(f) for f in reports], how="diagonal_relaxed") if reports else None


def _file_outcomes(p: Paths) -> set[tuple[str, str, str]]:
    """(file, content hash, status) of every file as last loaded: what a run finds new is not in it."""
    files = _file_reports(p)
    return set() if files is None else set(files.select("file", "sha256", "status").iter_rows())


def _say_files(label: str, files) -> None:
    by_status = dict(files.group_by("status").len().iter_rows())
    _say(
        f"  {label}: {files.height} files ({by_status.get('loaded', 0)} "
        f"loaded, {by_status.get('duplicate', 0)} duplicate, "
        f"{by_status.get('rejected', 0)} rejected); rows loaded {files['rows_loaded'].sum():,}, "
        f"quarantined {files['rows_quarantined'].sum():,}, superseded {files['rows_superseded'].sum():,}"
    )


def _summary(p: Paths, elapsed: float, scope: str, before: set[tuple[str, str, str]] | None = None) -> None:
    import polars as pl

    _say(f"\nrefreshed {scope} in {elapsed:.0f}s")
    files = _file_reports(p)
    if files is not None:
        new = files.filter(
            ~pl.struct("file", "sha256", "status").map_elements(
                lambda f: (f["file"], f["sha256"], f["status"]) in (before or set()), return_dtype=pl.Boolean
            )
        )
        if new.height:
            _say_files("this delivery (files new or changed since the last load)", new)
        else:
            _say("  this delivery: no file new or changed since the last load")
        _say_files("all deliveries", files)
        for row in files.filter(pl.col("status") == "rejected").iter_rows(named=True):
            _say(f"  REJECTED {row['file']}: {row['message']}")
    indicators = p.marts / "indicators.parquet"
    if indicators.exists():
        ind = pl.read_parquet(indicators)
        published = ind.filter(pl.col("obs_value").is_not_null())
        countries = sorted(set(ind["ref_area"].unique().to_list()) - {"X_BW"})
        _say(
            f"  indicators: {ind.height:,} rows ({published.height:,} "
            f"with a value), {ind['indicator'].n_unique()} codes, "
            f"countries {', '.join(countries)}"
        )
    _say_disclosure(p)
    _say(f"  marts: {p.marts}  (quarantine: {p.quarantine})")


def _say_disclosure(p: Paths) -> None:
    """The information disclosure control cost the publication, and its audit (docs/disclosure.md)."""

    check = p.marts / "quality" / "last_check.json"
    report = json.loads(check.read_text(encoding="utf-8")).get("disclosure", {}) if check.exists() else {}
    if not report:
        return
    gate = report.get("gate_audit", {})
    _say(
        f"  disclosure control: {report['suppressed']:,} of "
        f"{report['cells']:,} cells suppressed (C): {report['primary']} primary "
        f"({report['primary_by_threshold']} thresholds, "
        f"{report['primary_by_dominance']} dominance), {report['range_edges']} range "
        f"edges, {report['secondary']} secondary; {report['suppressed_pooled']} "
        f"of {report['pooled']} pooled (X_BW) cells and "
        f"{report['suppressed_country_totals']} country totals suppressed; workers in suppressed cells "
        f"{report['workers_in_suppressed_cells_pct']}%; audit passed on {gate.get('audited', 0)} suppressed cells "
        f"(protection {report['audit']['protection']})"
    )
    if "pooled_countries" in report:
        kept = report.get("countries_kept_previous", {})
        _say(
            f"  X_BW pools {', '.join(report['pooled_countries'])}"
            + (f"; previous publication kept for {', '.join(kept)}" if kept else "")
        )


def _published(p: Paths, name: str) -> Path:
    path = p.marts / name
    if not path.exists():
        sys.exit(f"{path} does not exist yet: run `decentwork run` first")
    return path


def _asked(values: list[str] | None, dimension: str, option: str) -> list[str] | None:
    """Codes as asked (any case), or exit 2 naming the unknown ones and listing the valid ones."""
    from schemas.codes import codes_of

    if not values:
        return None
    asked, valid = [v.strip().upper() for v in values], codes_of(dimension)
    unknown = [v for v, a in zip(values, asked, strict=True) if a not in valid]
    if unknown:
        _usage(
            f"unknown {option} {', '.join(unknown)}: use one of {', '.join(valid)} "
            f"(`decentwork codes {dimension}` lists them with labels)"
        )
    return asked


def _output(out: str | None) -> Path | None:
    """The --out file, or exit 2 when its folder does not exist."""
    if out is None:
        return None
    target = Path(out)
    if not target.parent.is_dir():
        _usage(
            f"cannot write {out}: folder {target.parent} does not exist (create it, or name another file with --out)"
        )
    if target.is_dir():
        _usage(f"cannot write {out}: it is a folder (name a file, e.g. {target / 'indicators.csv'})")
    return target


def cmd_indicators(args: argparse.Namespace) -> int:
    """Filter the published long table and write it as CSV, Parquet or SDMX-CSV (stdout or --out). Unknown codes and
    years the publication does not hold are errors (exit 2), never an empty answer."""
    import polars as pl

    filters = {
        "ref_area": _asked(args.country, "REF_AREA", "--country"),
        "indicator": _asked(args.indicator, "INDICATOR", "--indicator"),
        "sex": _asked(args.sex, "SEX", "--sex"),
    }
    target = _output(args.out)
    if args.format == "parquet" and target is None:
        _usage("--format parquet needs --out FILE")
    p = export_environment()
    frame = pl.read_parquet(_published(p, "indicators.parquet"))
    if args.year:
        years = sorted(frame["time"].unique().to_list())
        missing = sorted(set(args.year) - set(years))
        if missing:
            _usage(f"--year {', '.join(map(str, missing))}: the publication holds {', '.join(map(str, years))}")
        frame = frame.filter(pl.col("time").is_in(args.year))
    for column, values in filters.items():
        if values:
            absent = sorted(set(values) - set(frame[column].unique().to_list()))
            if absent:  # valid codes the publication has nothing for (a country without deliveries, a filtered year)
                _usage(
                    f"nothing published for {column} {', '.join(absent)}"
                    f"{' in ' + ', '.join(map(str, args.year)) if args.year else ''}: "
                    f"it has {', '.join(sorted(frame[column].unique().to_list()))}"
                )
            frame = frame.filter(pl.col(column).is_in(values))
    if frame.is_empty():
        _usage("no published row matches all of these filters together")
    frame = frame.sort("ref_area", "indicator", "classif1", "sex", "time")
    if args.format == "parquet":
        frame.write_parquet(target)
    elif args.format == "sdmx":
        from assets import sdmx
        from schemas.codes import code_table

        data = target or Path(tempfile.mkdtemp(prefix="decentwork-sdmx-")) / "indicators.sdmx.csv"
        sdmx.write_sdmx_csv(frame, data)
        structure = data.with_name(f"{data.name.removesuffix('.csv').removesuffix('.sdmx')}.structure.xml")
        sdmx.write_structure(structure, code_table())
        if target is None:
            sys.stdout.write(data.read_text(encoding="utf-8"))
            data.unlink()
        print(
            f"SDMX structure (dataflow {sdmx.STRUCTURE_ID}) written to {structure}",
            file=sys.stderr if target is None else sys.stdout,
        )
    elif target is not None:
        frame.write_csv(target)
    else:
        sys.stdout.write(frame.write_csv())
    if target is not None:
        _say(f"{frame.height:,} rows written to {target}")
    return 0


def cmd_codes(args: argparse.Namespace) -> int:
    """The codes a user meets (countries, indicators, sexes, breakdowns, statuses, units), with labels."""
    import polars as pl

    from schemas.codes import DIMENSION_COLUMNS, code_table

    dimensions = None
    if args.dimension:
        wanted = [d.strip().upper() for d in args.dimension]
        unknown = [d for d in wanted if d not in DIMENSION_COLUMNS]
        if unknown:
            _usage(f"unknown dimension {', '.join(unknown)}: use one of {', '.join(DIMENSION_COLUMNS)}")
        dimensions = wanted
    table = code_table()
    if dimensions:
        table = table.filter(pl.col("dimension").is_in(dimensions))
    if args.format == "csv":
        sys.stdout.write(table.write_csv())
        return 0
    for (dimension,), rows in table.group_by("dimension", maintain_order=True):
        _say(f"{dimension} ({DIMENSION_COLUMNS[dimension]}):")
        width = rows["code"].str.len_chars().max()
        for code, label in rows.select("code", "label").iter_rows():
            _say(f"  {code:<{width}}  {label}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate one file as a run would, writing nothing: exit 0 when every row would load, 1 otherwise."""
    from assets.ingestion.ingest import check_file
    from decentwork.settings import SOURCES, paths
    from schemas.reference import programme_countries

    p = paths()  # read only: not even the run storage folder is made
    path = Path(args.file)
    source, country = args.source.lower(), args.country.upper()
    if source not in SOURCES:
        _usage(f"unknown source {args.source!r}: use one of {', '.join(SOURCES)}")
    if country not in programme_countries():
        _usage(f"unknown country {args.country!r}: use one of {', '.join(sorted(programme_countries()))}")
    if not path.is_file():
        _usage(f"no file {path}")
    check = check_file(path, source, country, p)
    if check.status == "rejected":
        _say(f"{path}: REJECTED, nothing would load: {check.message}")
        return 1
    quarantined = check.rows_read - check.rows_loaded
    _say(
        f"{path}: read with layout {check.layout!r}; {check.rows_read:,} rows, {check.rows_loaded:,} would load, "
        f"{quarantined:,} would be quarantined"
    )
    for rule, rows in sorted(check.reasons.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        _say(f'  {len(rows):>6,} x {rule}  (rows {shown}; e.g. "{check.examples[rule]}")')
    for note in check.notes:
        _say(f"  note: {note}")
    return 0 if quarantined == 0 else 1


def _usage(message: str) -> None:
    print(f"decentwork: {message}", file=sys.stderr)
    sys.exit(2)


def cmd_query(args: argparse.Namespace) -> int:
    """Researchers' SQL on the marts-only database, confined to it (assets/published.py)."""
    import duckdb

    from assets.published import QueryRefused, query_published_marts

    p = export_environment()
    try:
        frame = query_published_marts(_published(p, "marts.duckdb"), args.sql)
    except QueryRefused as exc:
        sys.exit(f"query refused: {exc}")
    except duckdb.Error as exc:
        sys.exit(f"query failed: {exc}")
    if frame is None:
        return 0
    if args.format == "csv":
        sys.stdout.write(frame.write_csv())
    else:
        import polars as pl

        with pl.Config(tbl_rows=args.limit, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200):
            print(frame)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Per country: last load, files, rows staged and quarantined; the runs, failures and checks; the last quality
    check. Reads files and the run storage only (no Dagster import): it answers in about a second."""
    import duckdb

    p = export_environment()
    if args.country:
        return _say_country(p, args.country)
    reports = p.file_reports()
    if not reports:
        sys.exit(f"nothing loaded yet under {p.root}: run `decentwork run`")
    db = duckdb.connect()
    partitions = (
        "(SELECT unnest($files) AS filename, unnest($sources) AS "
        "source, unnest($countries) AS country) USING (filename)"
    )

    def by_partition(files: list[Path]) -> dict:
        return {
            "files": [str(f) for f in files],
            "sources": [p.partition_of(f)[0] for f in files],
            "countries": [p.partition_of(f)[1] for f in files],
        }

    # `files` and `loaded` look unused but the SQL below reads them by name (DuckDB's replacement scan).
    files = db.sql(  # noqa: F841
        "SELECT source, country, count(*) AS files, "
        "count(*) FILTER (WHERE status = 'rejected') AS rejected, sum(rows_loaded)::BIGINT AS rows_loaded, "
        "sum(rows_quarantined)::BIGINT AS quarantined, sum(rows_superseded)::BIGINT AS superseded "
        "FROM read_parquet($files, filename = true, union_by_name = "
        f"true, hive_partitioning = false) JOIN {partitions} GROUP BY ALL",
        params=by_partition(reports),
    )
    staged = p.staged_files()
    loaded = (  # noqa: F841
        db.sql(
            "SELECT source, country, max(_loaded_at) AS last_loaded "
            "FROM read_parquet($files, filename = true, union_by_name = "
            f"true, hive_partitioning = false) JOIN {partitions} GROUP BY ALL",
            params=by_partition(staged),
        )
        if staged
        else db.sql(
            "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS country, NULL::TIMESTAMPTZ AS last_loaded WHERE false"
        )
    )
    per_source = db.sql(
        "SELECT f.country, f.source, l.last_loaded, f.* EXCLUDE (country, source) FROM files f "
        "LEFT JOIN loaded l USING (source, country) WHERE f.files > 0 ORDER BY 1, 2"
    )
    table = per_source
    if not args.detail:
        table = db.sql(
            "SELECT country, max(last_loaded) AS last_loaded, "
            "sum(files)::BIGINT AS files, sum(rejected)::BIGINT AS rejected, "
            "sum(rows_loaded)::BIGINT AS rows_loaded, sum(quarantined)::BIGINT AS quarantined, "
            "sum(superseded)::BIGINT AS superseded FROM per_source GROUP BY country ORDER BY country"
        )
    table.show(max_rows=200, max_width=200)
    _say_runs(p)
    _say_disclosure(p)
    check = p.marts / "quality" / "last_check.json"
    if check.exists():
        quality = json.loads(check.read_text(encoding="utf-8"))
        state = "passed" if quality["success"] else "FAILED (previous publication kept)"
        _say(f"last quality check: {state}; {len(quality['errors'])} error(s), {len(quality['warnings'])} warning(s)")
        for line in quality["errors"] + quality["warnings"]:
            _say(f"  - {line}")
    return 0


def _say_country(p: Paths, asked: str) -> int:
    """One country's delivered files as last loaded, each with its outcome, and why rows were quarantined; the
    partner reports (CSV) to send back."""
    import csv

    from decentwork.settings import SOURCES
    from schemas.reference import programme_countries

    country = asked.strip().upper()
    if country not in programme_countries():
        _usage(f"unknown country {asked!r}: use one of {', '.join(sorted(programme_countries()))}")
    files = _file_reports(p, country)
    if files is None:
        _say(f"{country}: nothing loaded yet (deliveries go under {p.raw}/<source>/{country}/)")
        return 0
    _say(f"{country}: {files.height} delivered files as last loaded")
    for row in files.sort("file").iter_rows(named=True):
        layout = f", layout {row['layout']}" if row.get("layout") else ""
        outcome = (
            f"REJECTED: {row['message']}"
            if row["status"] == "rejected"
            else f"{row['status']}{layout}; rows read {row['rows_read']:,}, loaded {row['rows_loaded']:,}, "
            f"quarantined {row['rows_quarantined']:,}, superseded {row['rows_superseded']:,}"
        )
        _say(f"  {row['file']}: {outcome}")
    for source in SOURCES:
        summary = p.quarantine_summary_csv(source, country)
        if not summary.exists():
            continue
        with summary.open(encoding="utf-8-sig", newline="") as f:
            rules = list(csv.DictReader(f))
        if rules:
            _say(f"  {source}: quarantined rows by reason (rows: {p.quarantine_reasons_csv(source, country)})")
            for rule in rules:
                _say(f"    {rule['file']}: {rule['count']} x {rule['rule']} (rows {rule['first_rows']})")
    _say(f"  reports for the partner (CSV, no personal values): {p.file_report_csv('<source>', country).parent}/")
    return 0


def _when(seconds: float | None) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if seconds else "-"


def _say_runs(p: Paths) -> None:
    """The last runs, the queue, interrupted runs (marked failed here), recent failures and failing checks."""
    from assets.deliveries import paused_countries
    from pipelines.run_storage import RunStorageView
    from pipelines.runs import UNFINISHED, process_gone, recent_failures, run_scope

    storage = RunStorageView()
    recent = storage.runs(limit=5)
    for run in recent[:3]:
        _say(
            f"run {run.run_id[:8]} {run.status} ({run_scope(run.tags)}; "
            f"started {_when(run.start_time)}, ended {_when(run.end_time)})"
        )
    queued = storage.runs(statuses=("QUEUED",), limit=100)
    if queued:
        beat = storage.daemon_heartbeat()
        daemon = (
            f"the daemon's last heartbeat {time.time() - beat:.0f}s ago"
            if beat
            else "no daemon has run on this instance"
        )
        _say(f"queued refreshes: {len(queued)} ({daemon}; they start when the daemon runs)")
    gone = [
        r
        for r in storage.runs(statuses=UNFINISHED, limit=100)
        if process_gone(r.tags, storage.engine_messages(r.run_id))
    ]
    if gone:  # rare: only now import Dagster, to mark them failed through it
        logging.getLogger("dagster").setLevel(logging.WARNING)
        import dagster as dg

        from pipelines.runs import recover_interrupted_runs

        with dg.DagsterInstance.get() as instance:
            recover_interrupted_runs(instance, say=_say)
    for country, why in sorted(paused_countries(p).items()):
        _say(f"paused: {country} since {why['since']} ({why['reason']})")
    failures = recent_failures(p)
    if failures:
        _say("recent failures:")
        for f in failures:
            _say(
                f"  - {f['at']} {f['country']}: step(s) "
                f"{', '.join(f['steps']) or '-'}: {f['reason']} (run {f['run_id'][:8]})"
            )
    failing = storage.failing_checks()
    _say(f"failing checks: {len(failing)}" + "".join(f"\n  - {f}" for f in failing))


def cmd_pause(args: argparse.Namespace) -> int:
    """Hold a country's deliveries (or release them): no refresh reads its new files while it is paused."""
    from assets.deliveries import paused_countries, set_paused
    from schemas.reference import programme_countries

    p = export_environment()
    country = args.country.strip().upper()
    if country not in programme_countries():
        _usage(f"unknown country {args.country!r}: use one of {', '.join(sorted(programme_countries()))}")
    if args.command == "pause":
        set_paused(p, country, args.reason)
        _say(
            f"{country} paused: its schedule skips, the delivery "
            "sensor ignores it, and no refresh reads its new files; "
            f"its published rows stay. `decentwork resume {country}` resumes it"
        )
    else:
        if country not in paused_countries(p):
            _say(f"{country} was not paused")
            return 0
        set_paused(p, country, None)
        _say(
            f"{country} resumed: its next schedule tick (or `decentwork run "
            f"--country {country}`) refreshes it if its deliveries changed"
        )
    return 0


def cmd_service(args: argparse.Namespace) -> None:
    """The Dagster UI with its daemon (`ui`), or the daemon (schedules, sensors, run queue) or the webserver alone,
    for a service manager (docs/operations.md). Runs whose process is gone are marked failed first."""
    export_environment()
    ensure_manifest()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    import dagster as dg

    from pipelines.runs import recover_interrupted_runs

    with dg.DagsterInstance.get() as instance:
        recover_interrupted_runs(instance, say=_say)
    bin_dir = Path(sys.executable).parent
    command = {
        "ui": ["dagster", "dev", "-m", "pipelines.definitions"],
        "daemon": ["dagster-daemon", "run", "-m", "pipelines.definitions"],
        "webserver": ["dagster-webserver", "-m", "pipelines.definitions"],
    }[args.command]
    if args.command != "daemon":
        command += ["-h", args.host, "-p", str(args.port)]
    os.execv(str(bin_dir / command[0]), [str(bin_dir / command[0]), *command[1:]])


def cmd_dbt_docs(_args: argparse.Namespace) -> int:
    """dbt's documentation site of every model and column, generated from the built warehouse."""
    from assets.dbt_project import dbt_executable
    from assets.dbt_runner import invoke

    p = export_environment()
    if not p.warehouse.exists():
        _usage(f"no warehouse at {p.warehouse} yet: run `decentwork run` first")
    ensure_manifest()
    target = p.dbt_artifacts / "docs"
    _say("generating the dbt docs ...")
    done = invoke(["docs", "generate", "--quiet"], target, write_json=True)
    if not done.success:
        sys.exit("dbt docs generate failed: " + "; ".join(done.problems))
    _say(
        f"dbt docs written to {target}; serve them with: cd {DBT_PROJECT_DIR} "
        f"&& {dbt_executable()} docs serve --target-path {target}"
    )
    return 0


def cmd_site(_args: argparse.Namespace) -> int:
    """The constituents' portal, built again from the current publication (a refresh builds it too)."""
    from assets.site.build import build
    from decentwork.settings import paths

    p = paths()
    if not (p.marts / "indicators.parquet").exists():
        _usage(f"no publication in {p.marts} yet: run `decentwork run` first")
    done = build(p.marts)
    _say(f"site: {done['pages']} pages in {done['folder']} (open {done['folder']}/index.html, or `decentwork serve`)")
    return 0


def cmd_site_messages(args: argparse.Namespace) -> int:
    """The portal's message catalogues: the template written from the site and the reference seeds, each
    language's catalogue updated (decentwork/site_messages.py)."""
    from decentwork import site_messages

    found = site_messages.run(check=args.check)
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        return 1
    _say("site messages: the template and every language's catalogue are complete")
    return 0


def cmd_risk(args: argparse.Namespace) -> int:
    """The inspectors' ranked list of one country (assets/risk/, docs/risk.md): for the inspectorate only."""
    import polars as pl

    from assets.risk.ranking import CAPACITY, FOLDER
    from decentwork.settings import paths

    p = paths()
    folder = p.root / FOLDER
    if not (folder / "ranking.csv").exists():
        _usage(f"no ranking in {folder} yet: run `decentwork run` first (the ranking follows every publication)")
    ranking = pl.read_csv(folder / "ranking.csv", schema_overrides={"risk": pl.Float64})
    country = args.country.upper()
    if country not in set(ranking["country"]):
        _usage(f"no ranking for {country}: the ranking covers {', '.join(sorted(set(ranking['country'])))}")
    capacity = args.capacity or CAPACITY
    of_country = ranking.filter(pl.col("country") == country)
    if args.region:
        regions = sorted(set(of_country["region"].fill_null("")))
        if args.region not in regions:
            _usage(f"no region {args.region!r} in {country}'s ranking: {', '.join(regions)}")
        of_country = of_country.filter(pl.col("region") == args.region).sort("rank_in_region")
    shown = of_country.head(capacity)
    _say(
        f"{country}: the {shown.height} factories to visit first (capacity {capacity}); advice, not a decision: "
        f"an inspector decides, and a share of visits should stay random. Model card: {folder / 'model_card.md'}"
    )
    with pl.Config(
        tbl_rows=capacity, tbl_cols=-1, fmt_str_lengths=90, tbl_width_chars=200, tbl_hide_dataframe_shape=True
    ):
        print(shown.drop("country", "inspector_decision"))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """A local web server for the publication (its portal and its files), printing the address."""
    import contextlib
    import functools
    import http.server

    from decentwork.settings import paths

    p = paths()
    if not (p.marts / "site" / "index.html").exists():
        _usage(f"no site in {p.marts / 'site'} yet: run `decentwork run` or `decentwork site` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(p.marts))
    with http.server.ThreadingHTTPServer((args.host, args.port), handler) as server:
        host, port = server.server_address[:2]
        _say(f"serving {p.marts} at http://{host}:{port}/site/index.html (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.captureWarnings(True)  # library deprecation chatter goes to the (quiet) warnings logger
    parser = argparse.ArgumentParser(
        prog="decentwork", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="ingest, model and publish through Dagster")
    run.add_argument("--country", help="refresh one country (ISO3) only")
    run.add_argument(
        "--reingest", action="store_true", help="read every delivery again, even those unchanged since they were staged"
    )
    run.add_argument(
        "--sample", action="store_true", help="generate the default sample first when the data root has no extracts"
    )

    smp = sub.add_parser("sample", help="write seeded sample extracts")
    smp.add_argument(
        "--scale", type=float, help="scale factor: 1 = the full programme (1,700 factories, 2.4M workers, 12 months)"
    )
    smp.add_argument("--factories", type=int)
    smp.add_argument("--workers", type=int)
    smp.add_argument("--months", type=int)
    smp.add_argument(
        "--risk-signal",
        type=float,
        default=0.0,
        help="plant a relation between payroll traits and later findings for the inspectors' risk ranking "
        "(1 = the documented strength; 0, the default, plants none)",
    )
    smp.add_argument("--seed", type=int, default=20251231)
    smp.add_argument("--out", help="raw folder to write (default: <data root>/raw)")

    codes_help = "codes are case-insensitive; `decentwork codes` lists every valid one with its label"
    ind = sub.add_parser(
        "indicators", help="the published indicators, filtered, as csv | parquet | sdmx", epilog=codes_help
    )
    ind.add_argument("--country", nargs="+", help="ISO3 codes, e.g. KHM VNM (X_BW = the programme countries pooled)")
    ind.add_argument(
        "--indicator", nargs="+", help="indicator codes, e.g. GPG_MEAN_HOURLY (`decentwork codes INDICATOR`)"
    )
    ind.add_argument("--sex", nargs="+", help="SEX_T, SEX_F or SEX_M")
    ind.add_argument("--year", nargs="+", type=int, help="calendar years the publication holds")
    ind.add_argument(
        "--format",
        choices=["csv", "parquet", "sdmx"],
        default="csv",
        help="sdmx: SDMX-CSV 2.0 with its SDMX-ML 3.0 structure file beside it",
    )
    ind.add_argument("--out", help="file to write (default: standard output; required for parquet)")

    cds = sub.add_parser(
        "codes", help="every code of the publication with its label (countries, indicators, breakdowns, ...)"
    )
    cds.add_argument(
        "dimension", nargs="*", help="REF_AREA, INDICATOR, SEX, CLASSIF1, OBS_STATUS or UNIT_MEASURE (default: all)"
    )
    cds.add_argument("--format", choices=["text", "csv"], default="text", help="csv: with definitions")

    tables = sorted({f.stem for f in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql")} | {"codes"})
    qry = sub.add_parser(
        "query",
        help="read-only SQL on the published marts (data/marts/marts.duckdb)",
        epilog=f'tables: {", ".join(tables)}. Columns: `decentwork query "describe indicators"`; their meaning: '
        "`select * from duckdb_columns() where table_name = 'indicators'` (comment) and docs/reading-the-marts.md. "
        "Codes and their labels: the `codes` table.",
    )
    qry.add_argument("sql")
    qry.add_argument("--format", choices=["table", "csv"], default="table")
    qry.add_argument("--limit", type=int, default=50, help="rows shown in table format")

    chk = sub.add_parser(
        "check",
        help="validate one delivery as a run would (layout, rows, reasons), writing nothing",
        description="Exit code 0: every row would load; 1: the file would be rejected or some rows "
        "quarantined; 2: a wrong question (unknown source, country or file).",
    )
    chk.add_argument("file")
    chk.add_argument(
        "--source",
        required=True,
        help="factories, assessments, picc_members, payroll, social_security or worker_survey",
    )
    chk.add_argument("--country", required=True, help="ISO3 code of the country programme, e.g. KHM")

    st = sub.add_parser("status", help="last refresh per country, rows and quarantine counts, failing checks")
    st.add_argument("--detail", action="store_true", help="one line per country and extract")
    st.add_argument(
        "--country", help="one country's delivered files, each with its outcome and quarantine reasons (ISO3)"
    )

    for name, text in (
        ("pause", "hold a country's deliveries: no refresh reads its new files"),
        ("resume", "release a paused country"),
    ):
        pause = sub.add_parser(name, help=text)
        pause.add_argument("country", help="ISO3 code, e.g. KHM")
        if name == "pause":
            pause.add_argument(
                "--reason", default="paused by the national team", help="why, shown by status and the schedule"
            )

    ui = sub.add_parser("ui", help="start the Dagster UI on the same instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)

    sub.add_parser("daemon", help="the Dagster daemon alone: schedules, sensors and the run queue (a service)")
    web = sub.add_parser("webserver", help="the Dagster webserver alone (a service; `ui` runs both)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=3000)

    sub.add_parser("site", help="build the constituents' portal again from the current publication (data/marts/site)")
    rsk = sub.add_parser(
        "risk", help="the inspectors' ranked list of one country's factories (data/inspectorate/; not public)"
    )
    rsk.add_argument("--country", required=True, help="ISO3 code")
    rsk.add_argument("--capacity", type=int, help="visits the inspectorate can make (rows shown; default 10)")
    rsk.add_argument("--region", help="one region's list (as the factory register names it)")
    msg = sub.add_parser(
        "site-messages",
        help="write the portal's message template and update the French catalogue (assets/site/locales)",
    )
    msg.add_argument("--check", action="store_true", help="write nothing; exit 1 when a message lacks a translation")
    srv = sub.add_parser("serve", help="serve the publication and its portal on a local web server")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    sub.add_parser("dbt-parse", help="(re)build the dbt manifest")
    sub.add_parser("dbt-docs", help="generate dbt's documentation site of the models and columns (after a run)")
    cat = sub.add_parser(
        "catalogue",
        help="write docs/indicators.md and the marts' dbt docs from the catalogue seeds "
        "(ref_indicators, ref_wide_marts, ref_wide_mart_columns)",
    )
    cat.add_argument("--check", action="store_true", help="write nothing; exit 1 when an output is out of date")

    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    commands = {
        "indicators": cmd_indicators,
        "codes": cmd_codes,
        "dbt-docs": cmd_dbt_docs,
        "query": cmd_query,
        "status": cmd_status,
        "check": cmd_check,
        "pause": cmd_pause,
        "resume": cmd_pause,
        "site": cmd_site,
        "serve": cmd_serve,
        "site-messages": cmd_site_messages,
        "risk": cmd_risk,
    }
    if args.command in commands:
        return commands[args.command](args)
    if args.command == "sample":
        cmd_sample(args)
    elif args.command in ("ui", "daemon", "webserver"):
        cmd_service(args)
    elif args.command == "dbt-parse":
        ensure_manifest(force=True)
    elif args.command == "catalogue":
        from decentwork import catalogue

        stale = catalogue.write(check=args.check)
        for path in stale:
            _say(f"{'out of date' if args.check else 'wrote'}: {path.relative_to(REPO_ROOT)}")
        return 1 if args.check and stale else 0
    return 0


def entry() -> int:
    """The `decentwork` command's process (pyproject.toml's script): `main`, then the heap frozen for the exit.

    A refresh leaves some 700,000 objects (Dagster, dbt, their definitions); at exit the interpreter's last garbage
    collections walked them all, about 3 s between a refresh's last line and the end of its process. Frozen
    (`gc.freeze`), they are left to the operating system: atexit handlers, module teardown and every object freed
    by its reference count still run; only finalizers inside reference cycles do not, and the warehouse, the
    publication and the run history commit their writes before `main` returns (a refresh killed at any point is
    safe, tests/test_crash_safety.py). Not in `main`, which tests call in their own long-lived process."""
    import gc

    try:
        return main()
    finally:  # also when a command exits with sys.exit
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()


if __name__ == "__main__":
    sys.exit(entry())
