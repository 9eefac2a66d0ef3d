"""Benchmark: the generator, a full refresh, a one-country refresh and the two references, per scale factor.

    .venv/bin/python bench/run.py --scale 0.01 0.1 [--workdir /tmp/decentwork-bench] [--country KHM]

Each step runs as its own process; wall time is measured around it and peak memory is the largest sum of
the resident set sizes of that process and all its descendants, sampled every 0.1 s with psutil. The
refresh stages (ingestion per extract, dbt, publication) come from the run's Dagster event log, which
`decentwork run` prints as its last line. Results: bench/results/sf<scale>.json and .md; the README's
benchmark section quotes them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
KEY = "benchmark-pseudonym-key"


def measure(command: list[str], env: dict | None = None) -> dict:
    """Run `command`; its wall seconds, peak RSS of its process tree (MB) and output."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample() -> None:
        try:
            root = psutil.Process(process.pid)
            while process.poll() is None:
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], total)
                time.sleep(0.1)
        except psutil.Error:
            pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0]
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_mb": round(peak[0] / 2**20), "output": output}


def stages(output: str) -> dict[str, float]:
    line = next(l for l in output.splitlines() if l.strip().startswith("stages:"))
    found = {name: float(sec) for name, sec in re.findall(r"(ingestion|dbt|publication) ([\d.]+)s", line)}
    found.update({f"ingest {name}": float(sec) for name, sec in re.findall(r"(\w+) ([\d.]+)s", line.split("(", 1)[1].split(")")[0])})
    return found


def raw_size(raw: Path) -> tuple[int, int]:
    files = [f for f in raw.rglob("*") if f.is_file() and not f.name.startswith(".")]
    return len(files), sum(f.stat().st_size for f in files)


def bench_scale(scale: float, workdir: Path, country: str, pandas: bool) -> dict:
    root = workdir / f"sf{scale:g}" / "data"
    shutil.rmtree(root.parent, ignore_errors=True)
    env = {**os.environ, "DECENTWORK_DATA_DIR": str(root), "DECENTWORK_PSEUDONYM_KEY": KEY, "DECENTWORK_SCHEDULES": "off"}
    result: dict = {"scale": scale, "machine": f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.platform()}",
                    "date": dt.date.today().isoformat()}
    print(f"SF {scale:g}: generating ...", flush=True)
    result["generate"] = measure([str(BIN / "decentwork"), "sample", "--scale", str(scale), "--out", str(root / "raw")], env)
    manifest = json.loads((root / "raw" / ".sample-manifest.json").read_text())
    result["raw_files"], result["raw_bytes"] = raw_size(root / "raw")
    print(f"  {result['raw_files']} files, {result['raw_bytes'] / 2**20:.0f} MB in {result['generate']['seconds']}s; full refresh ...", flush=True)
    result["full_refresh"] = measure([str(BIN / "decentwork"), "run"], env)
    result["full_refresh"]["stages"] = stages(result["full_refresh"]["output"])
    rows = re.search(r"rows loaded ([\d,]+)", result["full_refresh"]["output"])
    result["rows_loaded"] = int(rows.group(1).replace(",", "")) if rows else None
    print(f"  {result['full_refresh']['seconds']}s; one-country refresh ({country}) ...", flush=True)
    result["country_refresh"] = measure([str(BIN / "decentwork"), "run", "--country", country], env)
    result["country_refresh"]["stages"] = stages(result["country_refresh"]["output"])
    staged = sum(f.stat().st_size for f in (root / "staging").rglob(f"country={country}/*.parquet"))
    result["country_share"] = round(staged / sum(f.stat().st_size for f in (root / "staging").rglob("*.parquet")), 3)
    print(f"  {result['country_refresh']['seconds']}s; floor (DuckDB on the raw CSVs) ...", flush=True)
    result["floor"] = measure([sys.executable, str(BENCH / "floor_duckdb.py"), str(root / "raw")])
    if pandas:
        print(f"  {result['floor']['seconds']}s; pandas + pandera ...", flush=True)
        result["pandas"] = measure([sys.executable, str(BENCH / "reference_pandas.py"), str(root / "raw")])
    result["params"] = manifest["params"]
    result["country"] = country
    return result


def report(r: dict) -> str:
    full, one, floor = r["full_refresh"], r["country_refresh"], r["floor"]
    lines = [f"## SF {r['scale']:g} ({r['params']['factories']:,} factories, {r['params']['workers']:,} workers, {r['params']['months']} months) "
             f"on {r['machine']}, {r['date']}", "",
             f"Raw: {r['raw_files']} files, {r['raw_bytes'] / 2**20:,.0f} MB; rows loaded by the refresh: {r['rows_loaded']:,}", "",
             "| step | wall s | peak MB (process tree) |", "|---|---|---|",
             f"| generator | {r['generate']['seconds']} | {r['generate']['peak_mb']} |",
             f"| full refresh (`decentwork run`) | {full['seconds']} | {full['peak_mb']} |"]
    lines += [f"| &nbsp; {name} | {sec} | |" for name, sec in full["stages"].items()]
    lines += [f"| one-country refresh (`--country`, {r['country_share']:.0%} of the staged bytes) | {one['seconds']} | {one['peak_mb']} |",
              f"| floor: bare DuckDB on the raw CSVs | {floor['seconds']} | {floor['peak_mb']} |"]
    if "pandas" in r:
        lines.append(f"| pandas + pandera reference | {r['pandas']['seconds']} | {r['pandas']['peak_mb']} |")
    lines += ["", f"- full refresh / floor: **{full['seconds'] / floor['seconds']:.1f}x** (target: at most 2x)"]
    if "pandas" in r:
        lines.append(f"- pandas + pandera / full refresh: **{r['pandas']['seconds'] / full['seconds']:.2f}x** (target: at least 5x)")
    share = r["country_share"]
    fixed = (one["seconds"] - share * full["seconds"]) / (1 - share)  # full = F + V, one country = F + share x V
    lines.append(f"- one-country refresh: fixed overhead F = {fixed:.1f}s, variable part V = {full['seconds'] - fixed:.1f}s "
                 f"(full = F + V; {r['country']} = F + {share:.0%} x V, {share:.0%} = its share of the staged bytes)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--workdir", default="/tmp/decentwork-bench")
    parser.add_argument("--country", default="KHM")
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    for scale in args.scale:
        r = bench_scale(scale, Path(args.workdir), args.country, not args.skip_pandas)
        (out / f"sf{scale:g}.md").write_text(report(r), encoding="utf-8")
        for step in ("generate", "full_refresh", "country_refresh", "floor", "pandas"):
            r.get(step, {}).pop("output", None)
        (out / f"sf{scale:g}.json").write_text(json.dumps(r, indent=1), encoding="utf-8")
        print(report(r), flush=True)


if __name__ == "__main__":
    main()
