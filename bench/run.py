"""Benchmark: the generator, a full refresh, a one-country refresh and the two references, per scale factor.

    .venv/bin/python bench/run.py --scale 0.01 0.1 [--workdir /tmp/decentwork-bench] [--country KHM] [--skip-pandas]
        [--skip-country-refresh] [--reuse-raw]

For each scale factor, in a fresh data root <workdir>/sf<scale>/data:
1. `decentwork sample --scale SF` writes the raw deliveries (SF 1 = 1,700 factories, 2.4 M workers, 12 months);
2. `decentwork run` (full refresh), then `decentwork run --country KHM --reingest` (one-country refresh). With
   `--reingest` ingestion reads every file delivered for the country (assets/ingestion/ingest.py), so the second run
   does that country's whole work without any file being touched; touching one would also change the delivery
   order (file time) and so which of two deliveries of the same worker-month wins;
3. the floor (bench/floor_duckdb.py) and the pandas + pandera reference (bench/reference_pandas.py) on the
   same raw files;
4. a one-month delivery: the country's latest monthly payroll CSV delivered again as the next month (its period
   moved on by one month), then `decentwork run --country KHM` without `--reingest`, as a monthly refresh runs.
   Ingestion reads the new file only (assets/ingestion/ingest.py, PartCache); dbt rebuilds the new month's
   worker-months and the country's other worker-level slices whole (the plan the refresh logs is reported). The
   file is removed afterwards, so the raw files stay the generator's for `--reuse-raw`.

Each step is its own process: wall time is measured around it; peak memory is the largest sum of the resident
set sizes of the process and all its descendants (dbt runs as a child of `decentwork run`), sampled every
0.1 s with psutil. The refresh's stage times (ingestion per extract, dbt build, publication with its quality
gates) are the Dagster steps' STEP_START -> STEP_SUCCESS times from the run's event log, which `decentwork run`
prints as its last line ("stages: ..."); the rest of its wall time is process start-up, loading the Dagster
definitions and the closing summary. Raw rows are the rows read per delivered file, from the refresh's per-file
reports (data/quarantine/<source>/country=<ISO3>/files.parquet).

Results: bench/results/<date>-sf<scale>.md and .json; the markdown is also printed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BIN = Path(sys.executable).parent
KEY = "bench-key-not-secret-of-32-characters"
SAMPLE_EVERY = 0.1  # seconds between two memory samples
INDICATORS = ["EAR_MEAN_HOURLY", "GPG_MEAN_HOURLY", "MINW_BELOW_RT", "SS_REGISTERED_RT"]
# issue 32's targets: a full refresh within 2x the floor at SF 1 and 3x below it; at least twice as fast as
# pandas + pandera below SF 1; peak memory under 6 GB at SF 1; ingestion at most 2 us per raw row; a one-country
# refresh's dbt at most 40 % of a full refresh's (at SF 1)
TARGETS = {
    "refresh_over_floor": 2.0,
    "refresh_over_floor_below_sf1": 3.0,
    "pandas_over_refresh": 2.0,
    "peak_gb_sf1": 6.0,
    "ingestion_us_per_row": 2.0,
    "country_dbt_share": 0.4,
}


def refresh_target(scale: float) -> float:
    return TARGETS["refresh_over_floor"] if scale >= 1 else TARGETS["refresh_over_floor_below_sf1"]


def indicators_sha256(root: Path) -> str:
    """The published indicators' content hash: every row of the long table, in a fixed order and text form, so that
    two runs that publish the same numbers have the same hash whatever the Parquet writer's metadata (issue 32:
    the indicators must be identical before and after a speed change)."""
    table = root / "marts" / "indicators.parquet"
    text = duckdb.sql(f"select * from read_parquet('{table}') order by all").pl().write_csv()
    return hashlib.sha256(text.encode()).hexdigest()


def measure(command: list[str], env: dict | None = None, check: bool = True) -> dict:
    """Run `command`; its wall seconds, the peak RSS of its process tree (MB) and its output.

    A failing command stops the benchmark, unless `check` is false: then the failure is recorded under
    "failed" (a reference running out of memory at SF 1 is a result too)."""
    started, started_at = time.perf_counter(), time.time()
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample() -> None:
        try:
            root = psutil.Process(process.pid)
            while process.poll() is None:
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # the process ended since it was listed
                        total += p.memory_info().rss
                peak[0] = max(peak[0], total)
                time.sleep(SAMPLE_EVERY)
        except psutil.Error:
            pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0]
    seconds = time.perf_counter() - started
    sampler.join()
    result = {
        "seconds": round(seconds, 2),
        "peak_mb": round(peak[0] / 2**20),
        "output": output,
        "started_at": started_at,
        "ended_at": started_at + seconds,
    }
    if process.returncode != 0:
        killed = " (killed: SIGKILL, most likely the kernel's out-of-memory killer)" if process.returncode == -9 else ""
        message = f"{' '.join(command)} failed with exit code {process.returncode}{killed}:\n{output[-3000:]}"
        if check:
            raise SystemExit(message)
        result["failed"] = message
    return result


def stages(output: str, step: dict, root: Path) -> dict[str, float]:
    """Stage seconds of a `decentwork run`: its Dagster steps from the "stages:" line it prints, and the time
    outside the Dagster run (start-up before it, summary after it) from the run's record in runs.db."""
    line = next((text for text in output.splitlines() if text.strip().startswith("stages:")), "")
    outer = re.sub(r"\(.*?\)", "", line.strip().removeprefix("stages:"))  # ingestion, dbt, disclosure control, ...
    found = {name.strip(): float(sec) for name, sec in re.findall(r"([a-z][a-z ]*?) ([\d.]+)s", outer)}
    top_level = list(found)
    inner = re.search(r"\((.*?)\)", line)
    for name, sec in re.findall(r"(\w+) ([\d.]+)s", inner.group(1) if inner else ""):
        found[f"ingest {name}"] = float(sec)
    with sqlite3.connect(root / "dagster" / "history" / "runs.db") as con:
        start, end = con.execute(
            "select start_time, end_time from runs order by create_timestamp desc limit 1"
        ).fetchone()
    found["before the Dagster run (imports, definitions, launch)"] = round(start - step["started_at"], 1)
    found["Dagster between steps"] = round(end - start - sum(found[k] for k in top_level), 1)
    found["after the Dagster run (summary)"] = round(step["ended_at"] - end, 1)
    return found


def raw_rows(root: Path) -> dict[str, int]:
    """Rows read per country over every source, from the refresh's per-file reports."""
    reports = str(root / "quarantine" / "*" / "country=*" / "files.parquet")
    rows = duckdb.sql(
        f"select regexp_extract(filename, 'country=([A-Z]+)', 1), sum(rows_read)::bigint "
        f"from read_parquet('{reports}', filename = true) group by 1"
    ).fetchall()
    return dict(rows)


def published(root: Path, country: str) -> dict:
    """The headline indicators of `country` in the published long table, latest year, as {sex: {code: value}}."""
    indicators = root / "marts" / "indicators.parquet"
    rows = duckdb.sql(f"""
        select replace(sex, 'SEX_', ''), indicator, obs_value, time from read_parquet('{indicators}')
        where ref_area = '{country}' and indicator in ({", ".join(f"'{i}'" for i in INDICATORS)})
          and classif1 in ('_Z', 'CUR_TYPE_LCU')
          and time = (select max(time) from read_parquet('{indicators}') where ref_area = '{country}')
    """).fetchall()
    out: dict = {}
    for sex, code, value, year in rows:
        out.setdefault(sex, {})[code] = value
        out["year"] = year
    return out


def last_json(output: str) -> dict:
    """The JSON line a reference prints last (warnings may precede it)."""
    return json.loads(next(line for line in reversed(output.splitlines()) if line.startswith("{")))


def code_version() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = [
        entry
        for entry in subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True
        ).stdout.splitlines()
        if not entry[3:].startswith("bench/")
    ]
    return f"{head}" + (f" + {len(dirty)} uncommitted file(s) outside bench/" if dirty else "")


def bench_scale(
    scale: float, workdir: Path, country: str, pandas: bool, country_refresh: bool = True, reuse_raw: bool = False
) -> dict:
    """Every measurement of one scale factor, as a dict.

    `reuse_raw` keeps the raw files an earlier run generated at the same scale (SF 1 takes minutes to
    generate) and clears everything else; the generator is then not measured."""
    root = workdir / f"sf{scale:g}" / "data"
    manifest = root / "raw" / ".sample-manifest.json"
    reuse_raw = reuse_raw and manifest.exists()  # <workdir>/sf<SF>/ only ever holds that scale
    if reuse_raw:
        for child in root.iterdir():
            if child.name != "raw":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        shutil.rmtree(root.parent, ignore_errors=True)
    env = {
        **os.environ,
        "DECENTWORK_DATA_DIR": str(root),
        "DECENTWORK_PSEUDONYM_KEY": KEY,
        "DECENTWORK_SCHEDULES": "off",
    }
    r: dict = {
        "scale": scale,
        "country": country,
        "date": dt.date.today().isoformat(),
        "code": code_version(),
        "machine": (
            f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.platform()}"
        ),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    decentwork = str(BIN / "decentwork")

    print(f"SF {scale:g}: {'reusing the raw files of an earlier run' if reuse_raw else 'generating'} ...", flush=True)
    r["generate"] = (
        {"seconds": None, "peak_mb": None, "reused": True}
        if reuse_raw
        else measure([decentwork, "sample", "--scale", str(scale), "--out", str(root / "raw")], env)
    )
    r["params"] = json.loads((root / "raw" / ".sample-manifest.json").read_text())["params"]
    files = [f for f in (root / "raw").rglob("*") if f.is_file() and not f.name.startswith(".")]
    r["raw_files"], r["raw_bytes"] = len(files), sum(f.stat().st_size for f in files)

    made = "reused" if reuse_raw else f"generated in {r['generate']['seconds']}s"
    print(f"  {r['raw_files']} files, {r['raw_bytes'] / 2**20:.0f} MB, {made}; full refresh ...", flush=True)
    full = r["full_refresh"] = measure([decentwork, "run"], env)
    full["stages"] = stages(full["output"], full, root)
    loaded = re.search(r"rows loaded ([\d,]+)", full["output"])
    r["rows_loaded"] = int(loaded.group(1).replace(",", "")) if loaded else None
    r["raw_rows_by_country"] = raw_rows(root)
    r["raw_rows"] = sum(r["raw_rows_by_country"].values())
    r["country_share"] = round(r["raw_rows_by_country"].get(country, 0) / r["raw_rows"], 4)
    r["indicators_sha256"] = indicators_sha256(root)
    if "ingestion" in full["stages"]:
        r["ingestion_us_per_row"] = round(full["stages"]["ingestion"] / r["raw_rows"] * 1e6, 2)

    if country_refresh:
        print(f"  {full['seconds']}s; one-country refresh ({country}) ...", flush=True)
        one = r["country_refresh"] = measure([decentwork, "run", "--country", country, "--reingest"], env)
        one["stages"] = stages(one["output"], one, root)
        r["indicators_sha256_after_country_refresh"] = indicators_sha256(root)
        if full["stages"].get("dbt") and "dbt" in one["stages"]:
            r["country_dbt_share"] = round(one["stages"]["dbt"] / full["stages"]["dbt"], 3)
    r["published"] = published(root, country)

    print(f"  {r.get('country_refresh', full)['seconds']}s; floor (bare DuckDB on the raw files) ...", flush=True)
    r["floor"] = measure([sys.executable, str(BENCH / "floor_duckdb.py"), str(root / "raw")])
    r["floor"]["values"] = last_json(r["floor"]["output"])
    if pandas:
        print(f"  {r['floor']['seconds']}s; pandas + pandera ...", flush=True)
        r["pandas"] = measure([sys.executable, str(BENCH / "reference_pandas.py"), str(root / "raw")], check=False)
        r["pandas"]["values"] = {} if "failed" in r["pandas"] else last_json(r["pandas"]["output"])

    # full = F + V and one country = F + share x V, F the fixed overhead, V the part that grows with the data
    share = r["country_share"]
    r["ratios"] = {
        "refresh_over_floor": round(full["seconds"] / r["floor"]["seconds"], 2),
        "refresh_peak_over_floor_peak": round(full["peak_mb"] / max(r["floor"]["peak_mb"], 1), 2),
    }
    if country_refresh:
        r["fixed_overhead_s"] = round((one["seconds"] - share * full["seconds"]) / (1 - share), 1)
        r["variable_s"] = round(full["seconds"] - r["fixed_overhead_s"], 1)
        r["ratios"]["country_refresh_over_floor"] = round(one["seconds"] / r["floor"]["seconds"], 2)
    if pandas and "failed" not in r["pandas"]:
        r["ratios"]["pandas_over_refresh"] = round(r["pandas"]["seconds"] / full["seconds"], 2)
        r["ratios"]["pandas_over_floor"] = round(r["pandas"]["seconds"] / r["floor"]["seconds"], 2)
    if country_refresh:
        r["month_delivery"] = month_delivery(root, country, decentwork, env)
    for step in ("generate", "full_refresh", "country_refresh", "month_delivery", "floor", "pandas"):
        r.get(step, {}).pop("output", None)
    return r


def month_delivery(root: Path, country: str, decentwork: str, env: dict) -> dict:
    """Step 4 of the module's docstring: a new month of `country`'s payroll and the refresh that loads it."""
    months = sorted((root / "raw" / "payroll" / country).glob("*_[0-9][0-9][0-9][0-9]-[0-9][0-9].csv"))
    if not months:
        return {"skipped": f"no monthly payroll CSV for {country}"}
    latest = months[-1]
    current = re.search(r"\d{4}-\d{2}(?=\.csv$)", latest.name).group(0)
    year, month = int(current[:4]), int(current[5:])
    following = f"{year + month // 12}-{month % 12 + 1:02d}"
    text = latest.read_text(encoding="utf-8")
    moved = re.sub(rf"(?<=[,;]){current}(?=[,;])", following, text)
    if moved == text:
        return {"skipped": f"no period column found in {latest.name}"}
    new = latest.with_name(latest.name.replace(current, following))
    new.write_text(moved, encoding="utf-8")
    try:
        print(f"  one-month delivery ({new.name}) ...", flush=True)
        result = measure([decentwork, "run", "--country", country], env, check=False)
        result["stages"] = stages(result["output"], result, root)
        result["file"] = new.name
        plan = re.search(r"dbt: (worker-level models rebuilt for [^;\n]*|full build[^\n]*)", result["output"])
        result["dbt_plan"] = plan.group(1) if plan else "the refresh's log names no dbt plan"
    finally:
        new.unlink()
    return result


def _fmt(value) -> str:
    return "–" if value is None else f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def report(r: dict) -> str:
    """The markdown report of one scale factor."""
    full, one, floor, pd_ = r["full_refresh"], r.get("country_refresh"), r["floor"], r.get("pandas")
    p, ratios, share = r["params"], r["ratios"], r["country_share"]
    lines = [
        f"## SF {r['scale']:g}: {p['factories']:,} factories, {p['workers']:,} workers, {p['months']} months",
        "",
        f"{r['date']}, {r['machine']}; load average at start {r['load_average_at_start']}; code {r['code']}",
        "",
        f"Raw: {r['raw_files']} files, {r['raw_bytes'] / 2**20:,.0f} MB, {r['raw_rows']:,} rows "
        f"({', '.join(f'{c} {n:,}' for c, n in sorted(r['raw_rows_by_country'].items()))}); "
        f"rows loaded by the refresh: {r['rows_loaded']:,}",
        "",
        "| step | wall s | peak MB (process tree) |",
        "|---|---:|---:|",
        f"| generator (`decentwork sample --scale {r['scale']:g}`) | "
        + (
            "not measured (raw files of an earlier run reused) | – |"
            if r["generate"].get("reused")
            else f"{r['generate']['seconds']} | {r['generate']['peak_mb']} |"
        ),
        f"| full refresh (`decentwork run`) | {full['seconds']} | {full['peak_mb']} |",
    ]
    lines += [f"| &nbsp; {name} | {sec} | |" for name, sec in full["stages"].items()]
    if one:
        lines += [
            f"| one-country refresh (`decentwork run --country {r['country']}`, "
            f"{share:.0%} of the raw rows) | {one['seconds']} | {one['peak_mb']} |"
        ]
        lines += [f"| &nbsp; {name} | {sec} | |" for name, sec in one["stages"].items()]
    month = r.get("month_delivery") or {}
    if month.get("stages"):
        failed = f" (**failed**: {month['failed'].splitlines()[0]})" if "failed" in month else ""
        lines += [
            f"| one-month delivery (`{month['file']}`, then `decentwork run --country {r['country']}`){failed} "
            f"| {month['seconds']} | {month['peak_mb']} |"
        ]
        lines += [f"| &nbsp; {name} | {sec} | |" for name, sec in month["stages"].items()]
    lines += [f"| floor: bare DuckDB on the raw files | {floor['seconds']} | {floor['peak_mb']} |"]
    if pd_ and "failed" in pd_:
        lines.append(
            f"| pandas + pandera reference: **failed** after {pd_['seconds']} "
            f"s ({pd_['failed'].splitlines()[0]}) | – | {pd_['peak_mb']} |"
        )
    elif pd_:
        lines.append(f"| pandas + pandera reference | {pd_['seconds']} | {pd_['peak_mb']} |")

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    lines += [
        "",
        "Ratios and targets (reported, not asserted):",
        "",
        f"- full refresh / floor: **{ratios['refresh_over_floor']}x** "
        f"(target at most {refresh_target(r['scale']):g}x at SF {r['scale']:g}: "
        f"{verdict(ratios['refresh_over_floor'] <= refresh_target(r['scale']))}); one-country refresh / floor: "
        f"{ratios.get('country_refresh_over_floor', '–')}x; peak memory "
        f"refresh / floor: {ratios['refresh_peak_over_floor_peak']}x",
    ]
    if pd_ and "failed" not in pd_:
        lines.append(
            f"- pandas + pandera / full refresh: **{ratios['pandas_over_refresh']}x** (target at least "
            f"{TARGETS['pandas_over_refresh']:g}x: "
            f"{verdict(ratios['pandas_over_refresh'] >= TARGETS['pandas_over_refresh'])}); "
            f"pandas + pandera / floor: {ratios['pandas_over_floor']}x"
        )
    elif pd_ and "failed" in pd_:
        lines.append(
            f"- pandas + pandera did not finish on this machine (peak {pd_['peak_mb']:,} MB before it failed), so "
            "the refresh is faster than it by more than any ratio"
        )
    per_row = r.get("ingestion_us_per_row")
    if per_row is not None:
        lines.append(
            f"- ingestion: **{per_row} µs per raw row** (target at most {TARGETS['ingestion_us_per_row']:g}: "
            f"{verdict(per_row <= TARGETS['ingestion_us_per_row'])})"
        )
    if r.get("country_dbt_share") is not None:
        lines.append(
            f"- one-country refresh's dbt / full refresh's dbt: **{r['country_dbt_share']:.0%}** (target at most "
            f"{TARGETS['country_dbt_share']:.0%} at SF 1"
            + (f": {verdict(r['country_dbt_share'] <= TARGETS['country_dbt_share'])})" if r["scale"] == 1 else ")")
        )
    same = r.get("indicators_sha256_after_country_refresh") in (None, r["indicators_sha256"])
    lines.append(
        f"- published indicators' content hash: `{r['indicators_sha256'][:16]}` after the full refresh"
        + ("" if same else f", `{r['indicators_sha256_after_country_refresh'][:16]}` after the one-country refresh")
    )
    peak_gb = full["peak_mb"] / 1024
    lines.append(
        f"- peak memory of the full refresh: {peak_gb:.2f} GB (target under {TARGETS['peak_gb_sf1']:g} GB at SF 1"
        + (f": {verdict(peak_gb < TARGETS['peak_gb_sf1'])})" if r["scale"] == 1 else "; this is not SF 1)")
    )
    if one:
        lines.append(
            "- one-country refresh = F + share x V with full = F "
            f"+ V: fixed overhead **F = {r['fixed_overhead_s']}s**, "
            f"V = {r['variable_s']}s ({r['country']} share = {share:.1%} of the raw rows; "
            f"F is {r['fixed_overhead_s'] / full['seconds']:.0%} of the full refresh)"
        )
    if one and month.get("stages", {}).get("ingestion") and one["stages"].get("ingestion"):
        lines.append(
            f"- one-month delivery: ingestion {month['stages']['ingestion']} s against the one-country refresh's "
            f"{one['stages']['ingestion']} s (the new file only); its dbt {month['stages'].get('dbt', '–')} s against "
            f"{one['stages'].get('dbt', '–')} s (the refresh's plan: {month.get('dbt_plan', '–')})"
        )

    pub = r["published"]
    lines += [
        "",
        f"Sanity check, {r['country']}: floor and pandas over all "
        f"delivered months, published marts for {pub.get('year')} "
        "(LCU; not expected to be equal, see the simplifications below):",
        "",
        "| indicator | sex | floor | pandas + pandera | published |",
        "|---|---|---:|---:|---:|",
    ]
    for code in INDICATORS:
        for sex in ("T",) if code.startswith("GPG") else ("F", "M", "T"):
            cells = [
                src["values"].get(r["country"], {}).get(sex, {}).get(code) if src else None for src in (floor, pd_)
            ]
            lines.append(
                f"| {code} | SEX_{sex} | {' | '.join(_fmt(v) for v in cells)} | {_fmt(pub.get(sex, {}).get(code))} |"
            )
    lines += [
        "",
        "Caveats:",
        "",
        "- The references compute 4 indicators; the refresh validates, quarantines with reasons, pseudonymises, keeps "
        "lineage, builds ~28 indicators with disclosure control, runs the dbt tests and quality gates, and publishes.",
        "- Both references read every country's payroll and social-security files (CSV with the mapping's separator, "
        "decimal commas, header renames and sex codes; Jordan's .xlsx through fastexcel) and keep the later delivery "
        "of a worker-month. The floor validates nothing: absurd values the sample injects stay in its means.",
        "- MINW_BELOW_RT in the references: the country's lowest monthly minimum in force at the end of 2025 (all "
        "regions), pro-rated by regular hours, over all worker-months; the warehouse applies the factory's region "
        "and the month's minimum to full-time worker-months.",
        "- Timings are wall times on a shared 2-core machine; other work running at the same time inflates them.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--workdir", default="/tmp/decentwork-bench")
    parser.add_argument("--country", default="KHM")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-country-refresh", action="store_true")
    parser.add_argument("--reuse-raw", action="store_true", help="keep raw files generated earlier at the same scale")
    args = parser.parse_args()
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    for scale in args.scale:
        r = bench_scale(
            scale,
            Path(args.workdir),
            args.country,
            not args.skip_pandas,
            country_refresh=not args.skip_country_refresh,
            reuse_raw=args.reuse_raw,
        )
        stem = f"{r['date']}-sf{scale:g}"
        (out / f"{stem}.json").write_text(json.dumps(r, indent=1), encoding="utf-8")
        (out / f"{stem}.md").write_text(report(r), encoding="utf-8")
        print(report(r), flush=True)


if __name__ == "__main__":
    main()
