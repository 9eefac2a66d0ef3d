"""What a delivery is: the one place that decides which files under raw/ are deliveries, and fingerprints them.

A delivery is a file under `raw/<source>/<ISO3>/` with a .csv, .xlsx or .parquet name that is not hidden
(spec: extract contract). Ingestion, the delivery sensor, the command line, the build record and the key
policy all ask here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from decentwork.settings import RAW_SUFFIXES, SOURCES, Paths


def is_delivery(path: Path) -> bool:
    """Not hidden (a dot file, macOS's ._ files) and not an office lock file (`~$payroll.xlsx`, which Excel leaves
    beside a workbook open on a shared folder)."""
    return path.is_file() and not path.name.startswith((".", "~$")) and path.suffix.lower() in RAW_SUFFIXES


def outside_raw(paths: Paths, path: Path) -> bool:
    """A link (or a file in a linked folder) that leads out of raw/: never read, refused by name."""
    return not path.resolve().is_relative_to(paths.raw.resolve())


def list_deliveries(paths: Paths, source: str, country: str) -> list[Path]:
    """A country's delivered files of one source, in delivery order: file modification time, then name."""
    folder = paths.raw_dir(source, country)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if is_delivery(p)), key=lambda p: (p.stat().st_mtime_ns, p.name))


def delivered_files(paths: Paths) -> list[Path]:
    """Every delivered file under raw/, in any folder (also folders that are no country code)."""
    if not paths.raw.is_dir():
        return []
    return sorted(
        f
        for f in paths.raw.rglob("*")
        if is_delivery(f) and not any(part.startswith(".") for part in f.relative_to(paths.raw).parts)
    )


def scan_deliveries(paths: Paths, countries: set[str]) -> tuple[dict[str, list[list]], list[str]]:
    """Fingerprint every delivered file, per country, and list the folders under raw/<source>/ that are no country.

    A file's fingerprint is (path relative to raw/, size, mtime_ns).
    """
    by_country: dict[str, list[list]] = {}
    ignored: list[str] = []
    for source in SOURCES:
        source_dir = paths.raw / source
        if not source_dir.is_dir():
            continue
        for folder in sorted(source_dir.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if folder.name not in countries:
                ignored.append(f"{source}/{folder.name}")
                continue
            for file in list_deliveries(paths, source, folder.name):
                stat = file.stat()
                by_country.setdefault(folder.name, []).append(
                    [file.relative_to(paths.raw).as_posix(), stat.st_size, stat.st_mtime_ns]
                )
    return {c: sorted(files) for c, files in by_country.items()}, ignored


def fingerprint(files: list[list]) -> str:
    """One digest for a set of file fingerprints: equal digests, same delivered state."""
    return hashlib.sha256(json.dumps(sorted(files)).encode("utf-8")).hexdigest()


def delivery_fingerprints(paths: Paths, countries: set[str]) -> dict[str, str]:
    """{ISO3: fingerprint of its delivered files} of every country with deliveries (short: 16 hex digits)."""
    files, _ = scan_deliveries(paths, countries)
    return {country: fingerprint(country_files)[:16] for country, country_files in sorted(files.items())}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- paused countries


def paused_countries(paths: Paths) -> dict[str, dict]:
    """Countries whose deliveries are held: {ISO3: {"since": ..., "reason": ...}}. A paused country's new files are
    not read, by any refresh, until it is resumed; what it published before stays published."""
    try:
        return dict(json.loads(paths.paused.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(
            f"{paths.paused} is not valid JSON ({exc}). Fix: delete it and pause the countries again"
        ) from exc


def set_paused(paths: Paths, country: str, reason: str | None) -> None:
    """Pause `country` (reason given) or resume it (reason None)."""
    paused = paused_countries(paths)
    if reason is None:
        paused.pop(country, None)
    else:
        paused[country] = {"since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "reason": reason}
    paths.root.mkdir(parents=True, exist_ok=True)
    partial = paths.paused.with_name(f".{paths.paused.name}.tmp")
    partial.write_text(json.dumps(paused, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, paths.paused)
