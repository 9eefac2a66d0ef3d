"""Load one source of one country: every delivered file, validated, into staging and quarantine.

Each file takes one straight path, a module a step (assets/ingestion/): read.py (the file to text under the
contract's headers, with the layout its header fits), parse.py (typed columns), pseudonyms.py (ids to pseudonyms,
personal columns dropped), validate.py (the contract's rules), then stage.py (lineage; the key rules over all the
files; staging, quarantine and partner reports written). Every quarantine reason is worded in reasons.py.

The staged output of a (source, country) is a function of the files currently delivered for it,
so loading is idempotent by construction:
- a file whose content was already seen under another name loads nothing (status `duplicate`);
- a file re-delivered under the same name replaces what its earlier version loaded;
- when two files carry the same natural key, the later delivery (file time, then name) wins and
  the earlier row is quarantined with the reason "superseded by <file> row <n>";
- every staged row carries its file, row, file hash and delivery time.

A file validated by an earlier load is not read again while nothing it was validated with changed (`PartCache`): a
country's monthly delivery reads its new file, and the key rules and staging then run over every file's part.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import polars as pl

from assets.deliveries import file_sha256, list_deliveries, outside_raw
from assets.ingestion.parse import type_columns
from assets.ingestion.pseudonyms import Digests, generated_by_the_sample, key_fingerprint, pseudonymise
from assets.ingestion.read import RejectedFile, canonical_headers, fitting_layouts, forget_sheets, read_delivery
from assets.ingestion.reasons import KEY_REASON, REASONS, final_reasons, partner_reason
from assets.ingestion.stage import (
    FILE_ORDER,
    FileOutcome,
    LoadReport,
    resolve_keys,
    row_hash,
    stage_and_quarantine,
    with_lineage,
)
from assets.ingestion.validate import validate
from decentwork.settings import DEV_PSEUDONYM_KEY, REPO_ROOT, Paths
from schemas.canonical import EXTRACTS
from schemas.extracts import ROW
from schemas.mapping import layouts
from schemas.reference import REFERENCE_SEEDS


def read_file(
    path: Path,
    rel: str,
    order: int,
    sha: str,
    source: str,
    country: str,
    key: bytes,
    register: pl.Series | None,
    loaded_at: dt.datetime,
    pseudonyms: Digests | None = None,
) -> tuple[pl.DataFrame, list[str], str]:
    """One file through the steps of ingestion up to staging: read (with each layout whose header it carries), type,
    pseudonymise, validate, add lineage. Returns the rows with their reasons, the ignored columns and the layout
    that read it; raises RejectedFile.

    `pseudonyms`: digests computed for earlier files of the same source and country (kept in memory only).
    """
    extract = EXTRACTS[source]
    best = None
    for delivery in fitting_layouts(path, layouts(country, source)):  # several only when the headers are the contract's
        frame, extras = canonical_headers(read_delivery(path, delivery), extract, delivery, path)
        typed = type_columns(frame, extract, delivery)
        failures = typed.filter(pl.col(REASONS).list.len() > 0).height
        if best is None or failures < best[0]:
            best = (failures, delivery, typed, extras)
        if failures == 0:  # no later layout can beat it: a tie keeps the first
            break
    _, delivery, typed, extras = best
    typed = pseudonymise(typed, extract, key, pseudonyms)
    checked = validate(typed, source, country, register)
    return with_lineage(checked, path, rel, sha, order, loaded_at), extras, delivery.layout


@dataclass
class FileCheck:
    """What a run would do with one file (`check_file`): its layout, rows, and each quarantine reason."""

    file: str
    status: str  # loads | rejected
    layout: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    reasons: dict[str, list[int]] = field(default_factory=dict)  # reason, its quoted values masked -> rows
    examples: dict[str, str] = field(default_factory=dict)  # reason -> the first row's own text
    message: str = ""
    notes: list[str] = field(default_factory=list)


def check_file(path: Path, source: str, country: str, paths: Paths) -> FileCheck:
    """Read and validate one file as a run would (layout, typing, the contract's rules, the factory register when
    one is staged, duplicate keys within the file), writing nothing. For partners and national teams
    (`decentwork check`). Pseudonyms are made with a throwaway key and never shown."""
    import secrets

    register, notes = None, []
    if source != "factories" and "factory_id" in {c.name for c in EXTRACTS[source].columns}:
        staged = paths.staged_file("factories", country)
        if staged.exists():
            register = pl.read_parquet(staged, columns=["factory_id"]).to_series()
        else:
            notes.append(
                f"factory ids not checked against the register: none is staged for {country} under {paths.root}"
            )
    now = dt.datetime.now(dt.UTC)
    try:
        frame, extras, layout = read_file(
            path, path.name, 0, "", source, country, secrets.token_bytes(32), register, now
        )
    except RejectedFile as exc:
        return FileCheck(path.name, "rejected", message=f"{exc.problem}. Fix: {exc.fix}", notes=notes)
    notes += [f"ignored extra columns {extras}"] if extras else []
    valid = frame.filter(pl.col(REASONS).list.len() == 0)
    keyed = resolve_keys(
        valid.with_columns(row_hash(source)).select(
            *EXTRACTS[source].key, FILE_ORDER, ROW, "_source_file", "_row_hash"
        ),
        source,
    )
    reasons = (
        frame.select(ROW, REASONS)
        .join(keyed.select(ROW, KEY_REASON), on=ROW, how="left")
        .with_columns(final_reasons().alias(REASONS))
        .explode(REASONS)
        .drop_nulls(REASONS)
    )
    check = FileCheck(path.name, "loads", layout, frame.height, frame.height - reasons[ROW].n_unique(), notes=notes)
    for row, reason in reasons.select(ROW, REASONS).sort(ROW).iter_rows():
        rule = partner_reason(reason, source)[1]
        check.reasons.setdefault(rule, []).append(row)
        check.examples.setdefault(rule, reason)
    return check


# What staging is made from, besides the delivered files: the code and rules that read, type and check them
# (every module of this package but the Dagster asset, which only schedules it, and what decides which files
# are delivered)
INGESTION_CODE = [f for f in sorted((REPO_ROOT / "assets" / "ingestion").glob("*.py")) if f.name != "asset.py"]
INGESTION_CODE.append(REPO_ROOT / "assets" / "deliveries.py")


@lru_cache(maxsize=1)
def _ingestion_code_digest() -> str:
    digest = hashlib.sha256()
    files = INGESTION_CODE + sorted(
        f for f in (REPO_ROOT / "schemas").rglob("*") if f.is_file() and f.suffix in {".py", ".yaml", ".yml"}
    )
    for f in files + list(REFERENCE_SEEDS):
        if f.exists():
            digest.update(f"{f.relative_to(REPO_ROOT)}\0".encode() + f.read_bytes())
    return digest.hexdigest()


def ingestion_inputs(source: str, country: str, paths: Paths, key: bytes) -> dict:
    """Everything one source and country's staging is made from: the delivered files (name, size, modification
    time), the pseudonym key (by fingerprint), the country's staged factory register (other extracts check their
    factory ids against it) and the ingestion code and rules."""
    register = paths.staged_file("factories", country)
    return {
        "deliveries": [
            [f.relative_to(paths.raw).as_posix(), f.stat().st_size, f.stat().st_mtime_ns]
            for f in list_deliveries(paths, source, country)
        ],
        "key": key_fingerprint(key),
        "register": [register.stat().st_size, register.stat().st_mtime_ns]
        if source != "factories" and register.exists()
        else None,
        "code": _ingestion_code_digest(),
    }


def unchanged_since_staged(source: str, country: str, paths: Paths, key: bytes) -> bool:
    """True when the last complete load of this source and country read exactly what would be read now: loading
    it again would write the same staging and quarantine, so a refresh keeps them (and dbt keeps the country)."""
    try:
        record = json.loads(paths.ingestion_record(source, country).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return False
    staged = (
        paths.staged_file(source, country),
        paths.quarantine_file(source, country),
        paths.file_report(source, country),
        paths.file_report_csv(source, country),
        paths.quarantine_reasons_csv(source, country),
        paths.quarantine_summary_csv(source, country),
    )
    return all(f.exists() for f in staged) and record == ingestion_inputs(source, country, paths, key)


def ingest(
    source: str,
    country: str,
    paths: Paths,
    key: bytes,
    log: Callable[[str], None] = print,
    now: dt.datetime | None = None,
    threads: int = 1,
    reuse: bool = True,
) -> LoadReport:
    """Rebuild staging and quarantine of one source and country from its delivered files (`threads` of them at once).

    The inputs are recorded once staging, quarantine and the file report are all written (`unchanged_since_staged`);
    the old record goes first, so a load killed half-way is never taken for a complete one. `reuse`: take the parts
    of files validated by an earlier load (`PartCache`); False reads every file again (`decentwork run --reingest`)."""
    loaded_at = now or dt.datetime.now(dt.UTC)
    report = LoadReport(source, country)
    locks = paths.root / ".ingest-work" / source  # not under staging/, which dbt reads
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{country}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs (a daemon's and a hand-started one) never load one extract at once
        inputs = ingestion_inputs(source, country, paths, key)  # before reading: a file delivered meanwhile is a change
        record = paths.ingestion_record(source, country)
        record.unlink(missing_ok=True)
        register = None
        if source != "factories" and "factory_id" in {c.name for c in EXTRACTS[source].columns}:
            staged_factories = paths.staged_file("factories", country)
            register = (
                pl.read_parquet(staged_factories, columns=["factory_id"]).to_series()
                if staged_factories.exists()
                else pl.Series("factory_id", [], pl.Int64)
            )
        shutil.rmtree(locks / country, ignore_errors=True)  # earlier versions' scratch folder, left by a killed run
        cache = PartCache(paths.ingest_cache / source / country, _cache_inputs(source, country, inputs, register))
        if not reuse:
            cache.entries = {}
        try:
            parts = _load_files(source, country, paths, key, register, loaded_at, report, cache, log, threads)
            stage_and_quarantine(source, country, paths, report, parts)
            cache.keep_only(parts)
        finally:
            forget_sheets()  # a long-lived process (the daemon) keeps no workbook in memory between refreshes
        partial = record.with_name(f".{record.name}.tmp")
        partial.write_text(json.dumps(inputs), encoding="utf-8")
        os.replace(partial, record)
    return report


def _load_files(
    source: str,
    country: str,
    paths: Paths,
    key: bytes,
    register: pl.Series | None,
    loaded_at: dt.datetime,
    report: LoadReport,
    cache: PartCache,
    log: Callable[[str], None],
    threads: int = 1,
) -> list[Path]:
    """Validate the delivered files, each into a Parquet part in `cache`: memory holds `threads` files at a time.
    Returns the loaded files' parts in delivery order; a file whose part `cache` holds is not read.

    Files are independent (the duplicate-key rules run later, on the parts), so a national refresh validates
    two at once on two threads where a full refresh gives each thread a country (assets/ingestion/asset.py)."""
    seen: dict[str, str] = {}
    outcomes: list[FileOutcome | None] = []
    pending: list[tuple[int, Path, str, str]] = []
    parts: dict[int, Path] = {}
    for order, path in enumerate(list_deliveries(paths, source, country)):
        rel = path.relative_to(paths.raw).as_posix()
        if outside_raw(paths, path):
            message = (
                f"a link to {path.resolve()}, outside the data root's raw/ folder: not read. Fix: copy the file itself "
                f"into {path.parent}"
            )
            outcomes.append(FileOutcome(rel, "", "rejected", message=message))
            log(f"REJECTED {rel}: {message}")
            continue
        if key == DEV_PSEUDONYM_KEY.encode() and not generated_by_the_sample(paths, path):
            message = (
                "not written by the sample generator, and the public development key pseudonymises generated samples "
                "only: not read. Fix: set DECENTWORK_PSEUDONYM_KEY and run again"
            )
            outcomes.append(FileOutcome(rel, "", "rejected", message=message))
            log(f"REJECTED {rel}: {message}")
            continue
        sha = file_sha256(path)
        if sha in seen:
            outcomes.append(FileOutcome(rel, sha, "duplicate", message=f"identical to {seen[sha]}: loaded once"))
            log(f"{rel}: identical to {seen[sha]}, skipped")
            continue
        seen[sha] = rel
        kept = cache.reuse(rel, sha, path.stat().st_mtime_ns, order)
        if kept is not None:
            outcomes.append(kept[1])
            parts[order] = kept[0]
            continue
        outcomes.append(None)  # filled in below, in delivery order
        pending.append((order, path, rel, sha))
    pseudonyms = Digests()

    def load(order: int, path: Path, rel: str, sha: str) -> FileOutcome:
        try:
            frame, extras, layout = read_file(
                path, rel, order, sha, source, country, key, register, loaded_at, pseudonyms
            )
        except RejectedFile as exc:
            log(f"REJECTED {rel}: {exc.problem}. Fix: {exc.fix}")
            return FileOutcome(rel, sha, "rejected", message=f"{exc.problem}. Fix: {exc.fix}")
        notes = [f"ignored extra columns {extras}"] if extras else []
        notes += ["header only: the file has no data rows"] if frame.height == 0 else []
        outcome = FileOutcome(rel, sha, "loaded", rows_read=frame.height, message="; ".join(notes), layout=layout)
        parts[order] = cache.add(
            frame.with_columns(row_hash(source)), rel, sha, path.stat().st_mtime_ns, order, outcome
        )
        return outcome

    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            loaded = iter(list(pool.map(lambda task: load(*task), pending)))
        except BaseException:  # an unexpected error (not a rejected file) or a termination: start no other file
            pool.shutdown(cancel_futures=True)
            raise
    report.files.extend(outcome if outcome is not None else next(loaded) for outcome in outcomes)
    return [parts[order] for order in sorted(parts)]


def _cache_inputs(source: str, country: str, inputs: dict, register: pl.Series | None) -> dict:
    """What every part of a (source, country) was validated with besides its own file: the key, the factory ids of
    the register (all validation reads of it: a register delivered again with other names or states keeps the
    parts), the ingestion code and rules, and the layouts the country's files may be in (as read now)."""
    ids = None if register is None else ",".join(map(str, sorted(set(register.drop_nulls().to_list()))))
    return {
        "key": inputs["key"],
        "register": None if ids is None else hashlib.sha256(ids.encode()).hexdigest(),
        "code": inputs["code"],
        "layouts": hashlib.sha256(repr(layouts(country, source)).encode()).hexdigest(),
    }


class PartCache:
    """The validated part of each file of one source and country, kept between loads (`<data root>/.ingest-cache/`,
    beside staging and as personal: pseudonymised rows and the quarantined rows' reasons).

    A part is known by its file's name, content hash and modification time, so it is reused only for that file as
    delivered then; when the file's place in delivery order moved (a file withdrawn or delivered late), the part is
    copied under its new place rather than read again. The cache as a whole is used only while the key, the
    register's factory ids, the ingestion code and the layouts are those it was made with (`inputs`). The index
    (parts.json) is replaced once a load has staged everything, and the parts the load did not use go then: a
    withdrawn file's part, a part's copy under its old place, or every part made under another key. The rows of a
    reused part keep the time they were loaded (`_loaded_at`)."""

    INDEX = "parts.json"
    # LZ4, not zstd: a part is written once and read whole by every staging of its country, and LZ4 costs less CPU
    # both ways (SF 1 Cambodia payroll: 1.1 against 1.5 µs a row to write, 1.8 against 2.1 to stage from) for parts
    # 1.7 times larger (README, issue 32 step 9)
    COMPRESSION = "lz4"

    def __init__(self, folder: Path, inputs: dict) -> None:
        self.folder, self.inputs = folder, inputs
        try:
            index = json.loads((folder / self.INDEX).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            index = {}
        self.entries: dict[str, dict] = index.get("parts", {}) if index.get("inputs") == inputs else {}

    @staticmethod
    def _file(rel: str, sha: str, mtime_ns: int) -> str:
        return hashlib.sha256(f"{rel}\0{sha}\0{mtime_ns}".encode()).hexdigest()[:32]

    def _path(self, file: str, order: int) -> Path:
        return self.folder / f"{file}-{order:06d}.parquet"

    def add(self, rows: pl.DataFrame, rel: str, sha: str, mtime_ns: int, order: int, outcome: FileOutcome) -> Path:
        """Keep a file's validated rows (`order`: its place in delivery order, as `rows` carry it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        file = self._file(rel, sha, mtime_ns)
        rows.write_parquet(self._path(file, order), compression=self.COMPRESSION)
        self.entries[file] = {
            "order": order,
            "rows_read": outcome.rows_read,
            "message": outcome.message,
            "layout": outcome.layout,
        }
        return self._path(file, order)

    def reuse(self, rel: str, sha: str, mtime_ns: int, order: int) -> tuple[Path, FileOutcome] | None:
        """The part of this file as delivered, at its place `order` now, and its outcome; None when there is none."""
        file = self._file(rel, sha, mtime_ns)
        entry = self.entries.get(file)
        if entry is None or not self._path(file, entry["order"]).exists():
            return None
        if entry["order"] != order:  # the file's place moved: a copy with its rows' new place, the old one kept
            moved = pl.read_parquet(self._path(file, entry["order"])).with_columns(pl.lit(order).alias(FILE_ORDER))
            moved.write_parquet(self._path(file, order), compression=self.COMPRESSION)
            entry = self.entries[file] = entry | {"order": order}
        outcome = FileOutcome(rel, sha, "loaded", entry["rows_read"], message=entry["message"], layout=entry["layout"])
        return self._path(file, order), outcome

    def keep_only(self, parts: list[Path]) -> None:
        """Record `parts` as the cache's content, then delete every other file in it."""
        names = {p.name for p in parts}
        kept = {file: entry for file, entry in self.entries.items() if self._path(file, entry["order"]).name in names}
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{self.INDEX}.tmp"
        partial.write_text(json.dumps({"inputs": self.inputs, "parts": kept}), encoding="utf-8")
        os.replace(partial, self.folder / self.INDEX)
        for stale in self.folder.iterdir():
            if stale.name != self.INDEX and stale.name not in names:
                stale.unlink(missing_ok=True)
