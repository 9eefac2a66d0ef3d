"""Load one source of one country: every delivered file, validated, into staging and quarantine.

The staged output of a (source, country) is a function of the files currently delivered for it,
so loading is idempotent by construction:
- a file whose content was already seen under another name loads nothing (status `duplicate`);
- a file re-delivered under the same name replaces what its earlier version loaded;
- when two files carry the same natural key, the later delivery (file time, then name) wins and
  the earlier row is quarantined with the reason "superseded by <file> row <n>";
- every staged row carries its file, row, file hash and delivery time.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pandera.polars as pa
import polars as pl

from assets.deliveries import file_sha256, list_deliveries, outside_raw
from assets.normalise import REASONS, canonical_headers, type_columns, with_reasons
from assets.pseudonyms import Digests, generated_by_the_sample, key_fingerprint, pseudonymise
from assets.readers import PROBLEM, ROW, RejectedFile, fitting_layouts, read_delivery
from decentwork.settings import DEV_PSEUDONYM_KEY, REPO_ROOT, SEEDS_DIR, Paths
from schemas.canonical import EXTRACTS
from schemas.extracts import DTYPES, SCHEMAS
from schemas.mapping import layouts

LINEAGE = {"_source_file": pl.String, ROW: pl.Int64, "_file_sha256": pl.String, "_delivered_at": pl.Datetime("us", "UTC"), "_loaded_at": pl.Datetime("us", "UTC")}
FILE_ORDER = "_file_order"


@dataclass
class FileOutcome:
    file: str
    sha256: str
    status: str  # loaded | rejected | duplicate
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0
    message: str = ""
    layout: str = ""  # the layout that read the file (schemas/mapping.py)


@dataclass
class LoadReport:
    source: str
    country: str
    files: list[FileOutcome] = field(default_factory=list)
    rows_staged: int = 0
    rows_quarantined: int = 0

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    def frame(self) -> pl.DataFrame:
        schema = {k: (pl.Int64 if isinstance(v, int) else pl.String) for k, v in asdict(FileOutcome("", "", "")).items()}
        return pl.DataFrame([asdict(f) for f in self.files], schema=schema)


@lru_cache(maxsize=1)
def programme_countries() -> dict[str, str]:
    """ISO3 -> ISO2 of the programme countries, from the reference seed (the one list of countries)."""
    with (SEEDS_DIR / "ref_countries.csv").open(encoding="utf-8") as fh:
        return {row["iso3"]: row["iso2"] for row in csv.DictReader(fh)}


# Money a row can hold before it is a keying error rather than a pay: this many times the highest monthly
# minimum wage the reference seed knows for the country in the row's currency (the sample's managers
# earn about 3-5 times the minimum; a general manager rarely 50). Checked on the amounts the indicators
# use; net pay and deductions feed none.
ABSURD_PAY_FACTOR = 100
MONEY_COLUMNS = {
    "payroll": ("basic_pay", "overtime_pay", "allowances", "bonuses"),
    "social_security": ("insurable_wage", "employer_contribution", "employee_contribution"),
}


@lru_cache(maxsize=1)
def monthly_minimum_wages() -> dict[tuple[str, str], float]:
    """(ISO3, currency) -> the highest monthly minimum wage of the reference seed (daily rates x 31)."""
    highest: dict[tuple[str, str], float] = {}
    with (SEEDS_DIR / "ref_minimum_wages.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            monthly = float(row["amount"]) * (31 if row["per"] == "day" else 1)
            key = (row["iso3"], row["currency"])
            highest[key] = max(highest.get(key, 0.0), monthly)
    return highest


def _absurd_pay(source: str, country: str) -> list[tuple[pl.Expr, pl.Expr]]:
    """Per money column and wage currency, (when a value is beyond any plausible pay, the reason)."""
    minimums = {cur: amount for (iso3, cur), amount in monthly_minimum_wages().items() if iso3 == country}
    if source not in MONEY_COLUMNS or not minimums:
        return []
    if source != "payroll":  # social security carries no currency: compare with the highest minimum of the country
        minimums = dict([max(minimums.items(), key=lambda kv: kv[1])])
    checks = []
    for currency, amount in minimums.items():
        in_currency = (pl.col("currency") == currency) if source == "payroll" else pl.lit(True)
        for column in MONEY_COLUMNS[source]:
            reason = pl.format(
                f"{column}: {{}} is over {ABSURD_PAY_FACTOR} times the highest monthly minimum wage of {country} "
                f"({amount:g} {currency}): a keying error?",
                pl.col(column),
            )
            checks.append((in_currency & (pl.col(column) > ABSURD_PAY_FACTOR * amount), reason))
    return checks


def staged_schema(source: str) -> dict[str, pl.DataType]:
    extract = EXTRACTS[source]
    schema = {c.name: DTYPES[c.type] for c in extract.staged_columns}
    schema |= {pid: pl.String for pid in extract.pseudonymise}
    return schema | LINEAGE


def _schema_reasons(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Per row position, the pandera rules the row breaks (as `_reasons_pandera`, a list of text)."""
    try:
        SCHEMAS[source].validate(frame.drop(REASONS), lazy=True)
        return pl.DataFrame(schema={"index": pl.Int64, "_reasons_pandera": pl.List(pl.String)})
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    rowless = cases.filter(pl.col("index").is_null())
    if rowless.height:  # a schema-level failure (wrong dtype): a bug in our typing, not bad input
        raise RuntimeError(f"staged {source} frame breaks its schema: {rowless.to_dicts()[:3]}")
    # Built in Python over the failure cases (few: one per broken cell), not as a polars when/then
    # chain: polars 2.1 panics evaluating that chain over some string columns.
    columns = set(frame.columns)
    described = [
        f"{column}: missing value" if check == "not_nullable"
        else f"{column}: '{str(case)[:40]}' {check}" if column in columns and check.startswith("is ")  # a worded rule
        else f"{column}: '{str(case)[:40]}' fails {check}" if column in columns
        else check
        for column, case, check in zip(cases["column"].to_list(), cases["failure_case"].to_list(), cases["check"].to_list())
    ]
    return (
        cases.select(pl.col("index").cast(pl.Int64)).with_columns(pl.Series("reason", described, dtype=pl.String))
        .group_by("index", maintain_order=True)
        .agg(pl.col("reason").unique(maintain_order=True).alias("_reasons_pandera"))
    )


def _validate_file(path: Path, rel: str, order: int, sha: str, source: str, country: str, key: bytes, register: pl.Series | None, loaded_at: dt.datetime,
                   pseudonyms: Digests | None = None) -> tuple[pl.DataFrame, list[str], str]:
    """One file to a typed, pseudonymised frame with its rows' reasons, its ignored columns and the layout that
    read it; raises RejectedFile.

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
    _, delivery, typed, extras = best
    typed = pseudonymise(typed, extract, key, pseudonyms)
    typed = typed.with_row_index("_pos").with_columns(pl.col("_pos").cast(pl.Int64))
    pandera_reasons = _schema_reasons(typed.drop("_pos"), source)
    typed = typed.join(pandera_reasons, left_on="_pos", right_on="index", how="left", maintain_order="left")
    checks = []  # (when a row breaks a rule pandera cannot express, the reason)
    if register is not None:
        unknown = pl.col("factory_id").is_not_null() & ~pl.col("factory_id").is_in(register.implode())
        checks.append((unknown, pl.format(f"factory_id: {{}} is not in the factory register of {country}", pl.col("factory_id"))))
    checks += _absurd_pay(source, country)
    if source == "factories":
        iso2 = programme_countries()[country]
        wrong = pl.col("country_code_iso2").is_not_null() & (pl.col("country_code_iso2") != iso2)
        checks.append((wrong, pl.format(f"Country Code: '{{}}' is not {iso2} ({country})", pl.col("country_code_iso2"))))
    broken = pl.any_horizontal(
        pl.col(REASONS).list.len() > 0, pl.col("_reasons_pandera").is_not_null(), pl.col(PROBLEM).is_not_null(), *[when for when, _ in checks]
    )
    reasons = pl.concat_list(
        pl.col(REASONS), pl.col("_reasons_pandera").fill_null(pl.lit([], dtype=pl.List(pl.String))), *[pl.when(when).then(reason) for when, reason in checks]
    ).list.drop_nulls().list.eval(  # a value that did not parse is not also "missing"
        pl.element().filter(~(pl.element().str.ends_with(": missing value") & pl.element().str.extract(r"^([^:]+):", 1).is_duplicated()))
    )
    # a row the reader could not take whole (empty, cut short) has that one reason, not its consequences
    reasons = pl.when(pl.col(PROBLEM).is_not_null()).then(pl.concat_list(pl.col(PROBLEM))).otherwise(reasons)
    kept = [c for c in typed.columns if c not in ("_pos", "_reasons_pandera", PROBLEM)]
    typed = with_reasons(typed, broken, reasons, ["_pos", *[c for c in kept if c != REASONS]], "_pos").select(kept)
    delivered = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    typed = typed.with_columns(
        pl.lit(rel).alias("_source_file"),
        pl.lit(sha).alias("_file_sha256"),
        pl.lit(delivered, dtype=LINEAGE["_delivered_at"]).alias("_delivered_at"),
        pl.lit(loaded_at, dtype=LINEAGE["_loaded_at"]).alias("_loaded_at"),
        pl.lit(order).alias(FILE_ORDER),
    )
    return typed, extras, delivery.layout


def _row_hash(source: str) -> pl.Expr:
    """A hash of a row's values (lineage aside): equal rows of one file hash alike."""
    return pl.struct([c for c in staged_schema(source) if c not in LINEAGE]).hash(seed=7).alias("_row_hash")


def _resolve_keys(rows: pl.DataFrame, source: str) -> pl.DataFrame:
    """Apply the duplicate-key rules to rows that passed validation; adds reasons to the losers.

    `rows` needs only the key, the file order and name, the row number and `_row_hash`, so the whole
    source of a country is resolved on a few narrow columns, never its full rows.

    Within one file, identical rows keep the first and quarantine the rest; rows sharing a key with
    different values are all quarantined (nobody can tell which is right). Across files the later
    delivery wins and the earlier row is superseded.
    """
    key = list(EXTRACTS[source].key)
    # Only a key seen more than once can lose. The window expressions below cost a list per row and,
    # with a later correction among millions of rows, ran for tens of minutes (polars 2.1): give them
    # those few rows only.
    # (is_duplicated over the key: 0.8 s on 5.7 million rows where a group_by took 5.4 s)
    candidates = _resolve_repeated_keys(rows.filter(pl.struct(key).is_duplicated()), key)
    return rows.drop("_row_hash").join(candidates, on=[FILE_ORDER, ROW], how="left")


def _key_description(key: list[str]) -> pl.Expr:
    """A key as a reason may quote it: its factory, period or round with their values, but a pseudonym only as
    "the same worker" (reasons reach reports, logs and run metadata; a pseudonym must not)."""
    pseudonyms = {pid for extract in EXTRACTS.values() for pid in extract.pseudonymise}
    parts = []
    for k in key:
        parts += [pl.lit(f"the same {k.removesuffix('_pid')}")] if k in pseudonyms else [pl.lit(f"{k} "), pl.col(k).cast(pl.String)]
        parts.append(pl.lit(", "))
    return pl.concat_str(parts[:-1])  # pl.format here panics in polars 2.1 (binview index), concat_str does not


def _resolve_repeated_keys(rows: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The duplicate-key rules over rows whose key repeats: (file order, row, reason or null)."""
    in_file = [*key, FILE_ORDER]
    first_row = pl.col(ROW).first().over([*in_file, "_row_hash"])
    conflicting = pl.col("_row_hash").n_unique().over(in_file) > 1
    rows = rows.with_columns(
        pl.when(conflicting)
        .then(pl.format("duplicate key ({}) with different values in rows {} of the same file", _key_description(key), pl.col(ROW).sort().over(in_file, mapping_strategy="join").list.eval(pl.element().cast(pl.String)).list.join(", ")))
        .when(pl.col(ROW) != first_row)
        .then(pl.format("duplicate row: same as row {}", first_row))
        .alias("_dup_reason")
    )
    alive = pl.col("_dup_reason").is_null()
    last_order = pl.col(FILE_ORDER).filter(alive).max().over(key)
    winner = pl.struct("_source_file", ROW).filter(alive & (pl.col(FILE_ORDER) == last_order)).first().over(key)
    rows = rows.with_columns(
        pl.when(alive & (pl.col(FILE_ORDER) < last_order))
        .then(pl.format("superseded by {} row {}", winner.struct.field("_source_file"), winner.struct.field(ROW)))
        .otherwise(pl.col("_dup_reason"))
        .alias("_key_reason")
    )
    return rows.select(FILE_ORDER, ROW, "_key_reason")


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
    import re
    import secrets

    register, notes = None, []
    if source != "factories" and "factory_id" in {c.name for c in EXTRACTS[source].columns}:
        staged = paths.staged_file("factories", country)
        if staged.exists():
            register = pl.read_parquet(staged, columns=["factory_id"]).to_series()
        else:
            notes.append(f"factory ids not checked against the register: none is staged for {country} under {paths.root}")
    now = dt.datetime.now(dt.timezone.utc)
    try:
        frame, extras, layout = _validate_file(path, path.name, 0, "", source, country, secrets.token_bytes(32), register, now)
    except RejectedFile as exc:
        return FileCheck(path.name, "rejected", message=f"{exc.problem}. Fix: {exc.fix}", notes=notes)
    notes += [f"ignored extra columns {extras}"] if extras else []
    valid = frame.filter(pl.col(REASONS).list.len() == 0)
    keyed = _resolve_keys(valid.with_columns(_row_hash(source)).select(*EXTRACTS[source].key, FILE_ORDER, ROW, "_source_file", "_row_hash"), source)
    reasons = frame.select(ROW, REASONS).join(keyed.select(ROW, "_key_reason"), on=ROW, how="left").with_columns(
        pl.when(pl.col("_key_reason").is_not_null()).then(pl.concat_list(pl.col("_key_reason"))).otherwise(pl.col(REASONS)).alias(REASONS)
    ).explode(REASONS).drop_nulls(REASONS)
    check = FileCheck(path.name, "loads", layout, frame.height, frame.height - reasons[ROW].n_unique(), notes=notes)
    for row, reason in reasons.select(ROW, REASONS).sort(ROW).iter_rows():
        rule = partner_reason(reason, source)[1]
        check.reasons.setdefault(rule, []).append(row)
        check.examples.setdefault(rule, reason)
    return check


# What staging is made from, besides the delivered files: the code and rules that read, type and check them
INGESTION_CODE = [REPO_ROOT / "assets" / f"{name}.py" for name in ("ingest", "readers", "normalise", "pseudonyms", "deliveries")]


@lru_cache(maxsize=1)
def _ingestion_code_digest() -> str:
    digest = hashlib.sha256()
    files = INGESTION_CODE + sorted(f for f in (REPO_ROOT / "schemas").rglob("*") if f.is_file() and f.suffix in {".py", ".yaml", ".yml"})
    for f in files + [SEEDS_DIR / "ref_countries.csv", SEEDS_DIR / "ref_minimum_wages.csv"]:
        if f.exists():
            digest.update(f"{f.relative_to(REPO_ROOT)}\0".encode() + f.read_bytes())
    return digest.hexdigest()


def ingestion_inputs(source: str, country: str, paths: Paths, key: bytes) -> dict:
    """Everything one source and country's staging is made from: the delivered files (name, size, modification
    time), the pseudonym key (by fingerprint), the country's staged factory register (other extracts check their
    factory ids against it) and the ingestion code and rules."""
    register = paths.staged_file("factories", country)
    return {
        "deliveries": [[f.relative_to(paths.raw).as_posix(), f.stat().st_size, f.stat().st_mtime_ns] for f in list_deliveries(paths, source, country)],
        "key": key_fingerprint(key),
        "register": [register.stat().st_size, register.stat().st_mtime_ns] if source != "factories" and register.exists() else None,
        "code": _ingestion_code_digest(),
    }


def unchanged_since_staged(source: str, country: str, paths: Paths, key: bytes) -> bool:
    """True when the last complete load of this source and country read exactly what would be read now: loading
    it again would write the same staging and quarantine, so a refresh keeps them (and dbt keeps the country)."""
    try:
        record = json.loads(paths.ingestion_record(source, country).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return False
    staged = (paths.staged_file(source, country), paths.quarantine_file(source, country), paths.file_report(source, country),
              paths.file_report_csv(source, country), paths.quarantine_reasons_csv(source, country),
              paths.quarantine_summary_csv(source, country))
    return all(f.exists() for f in staged) and record == ingestion_inputs(source, country, paths, key)


def ingest(source: str, country: str, paths: Paths, key: bytes, log: Callable[[str], None] = print, now: dt.datetime | None = None,
           threads: int = 1) -> LoadReport:
    """Rebuild staging and quarantine of one source and country from its delivered files (`threads` of them at once).

    The inputs are recorded once staging, quarantine and the file report are all written (`unchanged_since_staged`);
    the old record goes first, so a load killed half-way is never taken for a complete one."""
    loaded_at = now or dt.datetime.now(dt.timezone.utc)
    report = LoadReport(source, country)
    work = paths.root / ".ingest-work" / source / country  # not under staging/, which dbt reads; left over by a killed run
    work.parent.mkdir(parents=True, exist_ok=True)
    with open(work.parent / f"{country}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs (a daemon's and a hand-started one) never load one extract at once
        inputs = ingestion_inputs(source, country, paths, key)  # before reading: a file delivered meanwhile is a change
        record = paths.ingestion_record(source, country)
        record.unlink(missing_ok=True)
        register = None
        if source != "factories" and "factory_id" in {c.name for c in EXTRACTS[source].columns}:
            staged_factories = paths.staged_file("factories", country)
            register = (pl.read_parquet(staged_factories, columns=["factory_id"]).to_series() if staged_factories.exists()
                        else pl.Series("factory_id", [], pl.Int64))
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            _load_files(source, country, paths, key, register, loaded_at, report, work, log, threads)
            _stage_and_quarantine(source, country, paths, report, sorted(work.glob("*.parquet")))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        partial = record.with_name(f".{record.name}.tmp")
        partial.write_text(json.dumps(inputs), encoding="utf-8")
        os.replace(partial, record)
    return report


def _load_files(source: str, country: str, paths: Paths, key: bytes, register: pl.Series | None, loaded_at: dt.datetime,
                report: LoadReport, work: Path, log: Callable[[str], None], threads: int = 1) -> None:
    """Validate the delivered files, each into a Parquet part under `work`: memory holds `threads` files at a time.

    Files are independent (the duplicate-key rules run later, on the parts), so a national refresh validates
    two at once on two threads where a full refresh gives each thread a country (assets/staging.py)."""
    seen: dict[str, str] = {}
    outcomes: list[FileOutcome | None] = []
    pending: list[tuple[int, Path, str, str]] = []
    for order, path in enumerate(list_deliveries(paths, source, country)):
        rel = path.relative_to(paths.raw).as_posix()
        if outside_raw(paths, path):
            message = (f"a link to {path.resolve()}, outside the data root's raw/ folder: not read. Fix: copy the file itself "
                       f"into {path.parent}")
            outcomes.append(FileOutcome(rel, "", "rejected", message=message))
            log(f"REJECTED {rel}: {message}")
            continue
        if key == DEV_PSEUDONYM_KEY.encode() and not generated_by_the_sample(paths, path):
            message = ("not written by the sample generator, and the public development key pseudonymises generated samples "
                       "only: not read. Fix: set DECENTWORK_PSEUDONYM_KEY and run again")
            outcomes.append(FileOutcome(rel, "", "rejected", message=message))
            log(f"REJECTED {rel}: {message}")
            continue
        sha = file_sha256(path)
        if sha in seen:
            outcomes.append(FileOutcome(rel, sha, "duplicate", message=f"identical to {seen[sha]}: loaded once"))
            log(f"{rel}: identical to {seen[sha]}, skipped")
            continue
        seen[sha] = rel
        outcomes.append(None)  # filled in below, in delivery order
        pending.append((order, path, rel, sha))
    pseudonyms = Digests()

    def load(order: int, path: Path, rel: str, sha: str) -> FileOutcome:
        try:
            frame, extras, layout = _validate_file(path, rel, order, sha, source, country, key, register, loaded_at, pseudonyms)
        except RejectedFile as exc:
            log(f"REJECTED {rel}: {exc.problem}. Fix: {exc.fix}")
            return FileOutcome(rel, sha, "rejected", message=f"{exc.problem}. Fix: {exc.fix}")
        notes = [f"ignored extra columns {extras}"] if extras else []
        notes += ["header only: the file has no data rows"] if frame.height == 0 else []
        frame.with_columns(_row_hash(source)).write_parquet(work / f"{order:06d}.parquet", compression="lz4")  # read back once, soon
        return FileOutcome(rel, sha, "loaded", rows_read=frame.height, message="; ".join(notes), layout=layout)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            loaded = iter(list(pool.map(lambda task: load(*task), pending)))
        except BaseException:  # an unexpected error (not a rejected file) or a termination: start no other file
            pool.shutdown(cancel_futures=True)
            raise
    report.files.extend(outcome if outcome is not None else next(loaded) for outcome in outcomes)


def _stage_and_quarantine(source: str, country: str, paths: Paths, report: LoadReport, parts: list[Path]) -> None:
    """Resolve keys on narrow columns, then stream the winners into staging; losers and invalid rows to quarantine.

    Beside quarantine.parquet and files.parquet, the same load writes their partner versions (CSV, no personal
    value): files.csv, quarantine_reasons.csv and quarantine_summary.csv (`_write_partner_quarantine`)."""
    schema = staged_schema(source)
    empty = pl.DataFrame(schema=schema | {REASONS: pl.List(pl.String), FILE_ORDER: pl.Int64, "_row_hash": pl.UInt64})
    rows = pl.scan_parquet(parts) if parts else empty.lazy()
    valid = pl.col(REASONS).list.len() == 0
    slim = rows.filter(valid).select(*EXTRACTS[source].key, FILE_ORDER, ROW, "_source_file", "_row_hash").collect()
    losers = _resolve_keys(slim, source).filter(pl.col("_key_reason").is_not_null()).select(FILE_ORDER, ROW, "_key_reason")
    _sink_atomic(
        rows.filter(valid).join(losers.lazy(), on=[FILE_ORDER, ROW], how="anti", maintain_order="left")
        .select([pl.col(c).cast(t) for c, t in schema.items()]),
        paths.staged_file(source, country),
    )
    quarantined = pl.concat(
        [
            rows.filter(~valid).with_columns(pl.col(REASONS).list.join("; ").alias("reason")).collect(),
            rows.join(losers.lazy(), on=[FILE_ORDER, ROW], how="inner").with_columns(pl.col("_key_reason").alias("reason")).collect(),
        ],
        how="diagonal",
    )
    quarantine = quarantined.select(
        "_source_file", ROW, "reason", *[pl.col(c).cast(pl.String) for c in schema if c not in LINEAGE]
    ).sort("_source_file", ROW)
    _write_atomic(quarantine, paths.quarantine_file(source, country))
    _write_partner_quarantine(
        source,
        quarantined.select(
            "_source_file", ROW,
            pl.when(pl.col("_key_reason").is_not_null()).then(pl.concat_list("_key_reason")).otherwise(pl.col(REASONS)).alias("parts"),
        ),
        paths.quarantine_reasons_csv(source, country),
        paths.quarantine_summary_csv(source, country),
    )
    counts = quarantined.group_by("_source_file").agg(
        pl.len().alias("q"), pl.col("reason").str.starts_with("superseded by").sum().alias("s")
    )
    per_file = {r["_source_file"]: (r["q"], r["s"]) for r in counts.iter_rows(named=True)}
    for outcome in report.files:
        q, s = per_file.get(outcome.file, (0, 0))
        outcome.rows_quarantined, outcome.rows_superseded = q - s, s
        outcome.rows_loaded = outcome.rows_read - q if outcome.status == "loaded" else 0
    report.rows_staged, report.rows_quarantined = slim.height - losers.height, quarantine.height
    _write_atomic(report.frame(), paths.file_report(source, country))
    _write_csv_atomic(report.frame(), paths.file_report_csv(source, country))


# The partner reports: CSV beside quarantine.parquet and files.parquet, for partners and national teams, who open
# spreadsheets, not Parquet. A reason may quote the delivered value that broke a rule (a wage, a date, a name keyed
# into the wrong column): the CSVs keep the rule and drop the value, written MASK.
MASK = "…"
NOT_SHOWN = "reason not shown here (it may quote a value): ask the national team for the quarantine report"
FIRST_ROWS = 10  # row numbers a summary line lists
_CUT_SHORT = re.compile(r"cut short: the last line has \d+ of \d+ fields and no line break \(the file was truncated; re-deliver it whole\)")
_QUOTED = re.compile(r"'.*' ((?:is|fails) .+)", re.S)  # greedy: the value ends at the LAST "' is"/"' fails" (tails quote none)
_NOT_REGISTERED = re.compile(r".+ (is not in the factory register of [A-Z]{3})", re.S)
_ABSURD = re.compile(rf".+ (is over {ABSURD_PAY_FACTOR} times the highest monthly minimum wage of [A-Z]{{3}} \([^()]*\): a keying error\?)", re.S)


@lru_cache(maxsize=None)
def _reason_grammar(source: str) -> tuple[frozenset[str], frozenset[str], str]:
    """What a reason of `source` may start with (its column names and headers), its row rules' texts (they quote
    no value), and its key as a masked reason names it."""
    extract = EXTRACTS[source]
    columns = {c.name for c in extract.columns} | {c.header for c in extract.columns} | set(extract.pseudonymise)
    row_rules = {text for check in SCHEMAS[source].checks for text in (check.error, check.name) if text}
    pseudonyms = {pid for e in EXTRACTS.values() for pid in e.pseudonymise}
    key = ", ".join(f"the same {k.removesuffix('_pid')}" if k in pseudonyms else f"{k} {MASK}" for k in extract.key)
    return frozenset(columns), frozenset(row_rules), key


def partner_reason(reason: str, source: str) -> tuple[str, str]:
    """One quarantine reason as a partner may read it: (the reason, its rule).

    The reason keeps the rule, the column, row numbers and delivered file names, and drops every cell value:
    "basic_pay: '-12.5' fails greater_than_or_equal_to(0)" -> "basic_pay: '…' fails greater_than_or_equal_to(0)",
    "factory_id: 999 is not in the factory register of KHM" -> "factory_id: … is not in the factory register of KHM",
    a duplicate key "(factory_id 101, period 2025-01, the same worker)" -> "(factory_id …, period …, the same worker)"
    (a pseudonym is never quoted, even in quarantine.parquet: `_key_description`). The rule
    also drops the row numbers ("duplicate row: same as row …"), so equal problems count together.
    Only the forms ingestion writes are recognised (assets/readers.py, assets/normalise.py, _schema_reasons, the
    factory register and pay checks of _validate_file, _resolve_repeated_keys); any other reason is replaced by
    NOT_SHOWN whole (after its column, when it names one), never shown in part.
    """
    columns, row_rules, key = _reason_grammar(source)
    if reason == "empty row: no values" or reason in row_rules or _CUT_SHORT.fullmatch(reason):
        return reason, reason
    if re.fullmatch(r"duplicate row: same as row \d+", reason):
        return reason, f"duplicate row: same as row {MASK}"
    if m := re.fullmatch(r"superseded by (.+) row \d+", reason, re.S):  # a delivered file's name: lineage, not a value
        return reason, f"superseded by {m[1]} row {MASK}"
    if m := re.fullmatch(r"duplicate key \(.*\) with different values in rows (\d+(?:, \d+)*) of the same file", reason, re.S):
        masked = f"duplicate key ({key}) with different values in rows {{}} of the same file"
        return masked.format(m[1]), masked.format(MASK)
    column, colon, rest = reason.partition(": ")
    if not colon or column not in columns:
        return NOT_SHOWN, NOT_SHOWN
    if rest == "missing value":
        masked = reason
    elif m := _QUOTED.fullmatch(rest):
        masked = f"{column}: '{MASK}' {m[1]}"
    elif m := (_NOT_REGISTERED.fullmatch(rest) or _ABSURD.fullmatch(rest)):
        masked = f"{column}: {MASK} {m[1]}"
    else:
        masked = f"{column}: {NOT_SHOWN}"
    return masked, masked


def _write_partner_quarantine(source: str, parts: pl.DataFrame, reasons_csv: Path, summary_csv: Path) -> None:
    """The quarantine as partners can open it, no personal value in it (`partner_reason`):

    - quarantine_reasons.csv: file, row, reason: one line per quarantined row (the file as delivered, relative to
      raw/; the row a spreadsheet shows), its reasons masked and joined by "; ";
    - quarantine_summary.csv: file, rule, count, first_rows: per file and broken rule, how many rows break it and the
      first FIRST_ROWS of them ("2, 7, 9").

    `parts`: `_source_file`, `_source_row` and `parts`, the list of a row's reasons (its key reason for a loser).
    The bulk of a large quarantine (rows superseded by a later file) quotes no value and is kept by polars; the
    other reasons are masked once per distinct text.
    """
    exploded = parts.explode("parts").rename({"_source_file": "file", ROW: "row", "parts": "part"}).drop_nulls("part")
    lineage_only = pl.col("part").str.contains(r"^(?:superseded by .+|duplicate row: same as) row \d+$")
    distinct = exploded.filter(~lineage_only).get_column("part").unique(maintain_order=True).to_list()
    masked = pl.DataFrame([(part, *partner_reason(part, source)) for part in distinct],
                          schema={"part": pl.String, "reason": pl.String, "rule": pl.String}, orient="row")
    exploded = exploded.join(masked, on="part", how="left", maintain_order="left").with_columns(
        pl.col("reason").fill_null(pl.col("part")),
        pl.col("rule").fill_null(pl.col("part").str.replace(r"row \d+$", f"row {MASK}")),
    )
    reasons = (
        exploded.group_by("file", "row", maintain_order=True).agg(pl.col("reason").str.join("; "))
        .sort("file", "row", maintain_order=True)
    )
    summary = (
        exploded.group_by("file", "rule", maintain_order=True)
        .agg(pl.col("row").n_unique().alias("count"), pl.col("row").unique().sort().alias("_rows"))
        .sort("file", pl.col("_rows").list.first(), "rule")
        .select("file", "rule", "count",
                pl.col("_rows").list.head(FIRST_ROWS).list.eval(pl.element().cast(pl.String)).list.join(", ").alias("first_rows"))
    )
    _write_csv_atomic(reasons, reasons_csv)
    _write_csv_atomic(summary, summary_csv)


def _write_csv_atomic(frame: pl.DataFrame, target: Path) -> None:
    """A CSV a spreadsheet opens safely, written next to the target, then renamed (as `_write_atomic`).

    Comma-separated, a header line, fields quoted where needed, CRLF line ends (RFC 4180), empty for null. UTF-8
    with a byte-order mark, so Excel reads accents, "…" and non-Latin file names right (it takes BOM-less CSV for
    the local code page); Python reads it with encoding="utf-8-sig". A text cell starting with = + - @, a tab or a
    carriage return gets a leading apostrophe, so a spreadsheet never runs it as a formula (the rule of
    assets/publish.py `_csv_safe_select`); numbers are written as numbers.
    """
    safe = frame.with_columns(  # one regex replace, no when/then chain (polars 2.1 panics on some string columns)
        pl.col(c).str.replace(r"^([=+\-@\t\r])", "'$1") for c, dtype in frame.schema.items() if dtype == pl.String
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    safe.write_csv(tmp, include_bom=True, line_terminator="\r\n")
    os.replace(tmp, target)


def _sink_atomic(frame: pl.LazyFrame, target: Path) -> None:
    """Stream a lazy frame into Parquet next to the target, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    frame.sink_parquet(tmp, compression="zstd", compression_level=1, row_group_size=256_000)  # level 1: 25% faster than 3, 2% larger
    os.replace(tmp, target)


def _write_atomic(frame: pl.DataFrame, target: Path) -> None:
    """Write next to the target, then rename: a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    frame.write_parquet(tmp, compression="zstd", row_group_size=256_000)
    os.replace(tmp, target)
