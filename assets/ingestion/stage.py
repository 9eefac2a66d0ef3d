"""The staging step: the validated files of one source and country, their duplicate keys resolved, written to
staging, quarantine and the partner reports, each file atomically; and the report of a load.

Keys are resolved across all the files of a (source, country) at once: within one file, identical rows keep the
first and rows sharing a key with different values are all quarantined; across files the later delivery wins.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from assets.ingestion.reasons import (
    KEY_REASON,
    REASONS,
    SUPERSEDED,
    duplicate_key,
    duplicate_row,
    final_reasons,
    partner_parts,
    superseded,
)
from decentwork.settings import Paths
from schemas.canonical import EXTRACTS
from schemas.extracts import LINEAGE, ROW, staged_dtypes

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
        schema = {
            k: (pl.Int64 if isinstance(v, int) else pl.String) for k, v in asdict(FileOutcome("", "", "")).items()
        }
        return pl.DataFrame([asdict(f) for f in self.files], schema=schema)


def with_lineage(
    frame: pl.DataFrame, path: Path, rel: str, sha: str, order: int, loaded_at: dt.datetime
) -> pl.DataFrame:
    """A validated file's rows with their lineage: the file (relative to raw/), its hash, its delivery and load
    times, and its place in delivery order (for the key rules)."""
    delivered = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return frame.with_columns(
        pl.lit(rel).alias("_source_file"),
        pl.lit(sha).alias("_file_sha256"),
        pl.lit(delivered, dtype=LINEAGE["_delivered_at"]).alias("_delivered_at"),
        pl.lit(loaded_at, dtype=LINEAGE["_loaded_at"]).alias("_loaded_at"),
        pl.lit(order).alias(FILE_ORDER),
    )


def row_hash(source: str) -> pl.Expr:
    """A hash of a row's values (lineage aside): equal rows of one file hash alike."""
    return pl.struct([c for c in staged_dtypes(source) if c not in LINEAGE]).hash(seed=7).alias("_row_hash")


# The key of the staged file's footer metadata holding its period digests (`period_digests`).
PERIOD_DIGESTS = "decentwork.period_digests"


def period_digests(valid: pl.DataFrame, losers: pl.DataFrame, source: str) -> dict[str, str] | None:
    """Per period, a digest of the values of the rows staged for it (a source keyed by period: payroll, social
    security), None for the others. A dbt build compares them with those of the last build, so that a delivery
    that changes one month rebuilds that month's worker-months only (assets/dbt_models.py). The digest is the row
    count and the sums of the two 32-bit halves of the rows' value hashes (`row_hash`): independent of the rows'
    order and of which file delivered them, changed by any row added, removed or altered.

    `valid` are the rows that passed validation, `losers` those of them the key rules quarantine: the staged rows'
    sums are the first's less the second's, so the valid rows are not copied (at SF 1, 390 MB of Cambodia's
    pseudonyms)."""
    if "period" not in EXTRACTS[source].key:
        return None

    def sums(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.group_by("period").agg(
            pl.len().cast(pl.UInt64).alias("n"),
            (pl.col("_row_hash") % 2**32).sum().alias("low"),
            (pl.col("_row_hash") // 2**32).sum().alias("high"),
        )

    lost = sums(valid.join(losers, on=[FILE_ORDER, ROW], how="semi"))
    staged = sums(valid.select("period", "_row_hash")).join(lost, on="period", how="left", suffix="_lost").fill_null(0)
    staged = staged.select(
        "period", *[(pl.col(c) - pl.col(f"{c}_lost")).alias(c) for c in ("n", "low", "high")]
    ).filter(pl.col("n") > 0)
    return {row["period"]: f"{row['n']}-{row['low']:x}-{row['high']:x}" for row in staged.iter_rows(named=True)}


def staged_period_digests(path: Path) -> dict[str, str] | None:
    """The period digests a staged file was written with (`period_digests`), None if it has none (a source not
    keyed by period, or a file staged before they were recorded)."""
    found = pl.read_parquet_metadata(path).get(PERIOD_DIGESTS)
    return None if found is None else json.loads(found)


def resolve_keys(rows: pl.DataFrame, source: str) -> pl.DataFrame:
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


def _resolve_repeated_keys(rows: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The duplicate-key rules over rows whose key repeats: (file order, row, reason or null)."""
    in_file = [*key, FILE_ORDER]
    first_row = pl.col(ROW).first().over([*in_file, "_row_hash"])
    conflicting = pl.col("_row_hash").n_unique().over(in_file) > 1
    rows = rows.with_columns(
        pl.when(conflicting)
        .then(
            duplicate_key(
                key, pl.col(ROW).sort().over(in_file, mapping_strategy="join").list.eval(pl.element().cast(pl.String))
            )
        )
        .when(pl.col(ROW) != first_row)
        .then(duplicate_row(first_row))
        .alias("_dup_reason")
    )
    alive = pl.col("_dup_reason").is_null()
    last_order = pl.col(FILE_ORDER).filter(alive).max().over(key)
    winner = pl.struct("_source_file", ROW).filter(alive & (pl.col(FILE_ORDER) == last_order)).first().over(key)
    rows = rows.with_columns(
        pl.when(alive & (pl.col(FILE_ORDER) < last_order))
        .then(superseded(winner.struct.field("_source_file"), winner.struct.field(ROW)))
        .otherwise(pl.col("_dup_reason"))
        .alias(KEY_REASON)
    )
    return rows.select(FILE_ORDER, ROW, KEY_REASON)


def _place() -> pl.Expr:
    """A row's place among all the files of a load as one number: file order, then row (a file of 2^32 rows would be
    needed to make two places alike). The key rules' few losers are found among millions of rows by a membership
    test on it, which streams, where a join on the two columns holds the rows' order and, to fetch the losers' own
    rows, read every part in full."""
    return pl.col(FILE_ORDER).cast(pl.Int64) * (1 << 32) + pl.col(ROW)


def stage_and_quarantine(source: str, country: str, paths: Paths, report: LoadReport, parts: list[Path]) -> None:
    """Resolve keys on narrow columns, then stream the winners into staging; losers and invalid rows to quarantine.

    Beside quarantine.parquet and files.parquet, the same load writes their partner versions (CSV, no personal
    value): files.csv, quarantine_reasons.csv and quarantine_summary.csv (`_write_partner_quarantine`)."""
    schema = staged_dtypes(source)
    empty = pl.DataFrame(schema=schema | {REASONS: pl.List(pl.String), FILE_ORDER: pl.Int64, "_row_hash": pl.UInt64})
    rows = pl.scan_parquet(parts) if parts else empty.lazy()
    valid = pl.col(REASONS).list.len() == 0
    slim = rows.filter(valid).select(*EXTRACTS[source].key, FILE_ORDER, ROW, "_source_file", "_row_hash").collect()
    losers = resolve_keys(slim, source).filter(pl.col(KEY_REASON).is_not_null()).select(FILE_ORDER, ROW, KEY_REASON)
    digests = period_digests(slim, losers, source)
    lost = _place().is_in(losers.select(_place()).to_series().implode())
    _sink_atomic(
        rows.filter(valid & ~lost).select([pl.col(c).cast(t) for c, t in schema.items()]),
        paths.staged_file(source, country),
        metadata=None if digests is None else {PERIOD_DIGESTS: json.dumps(digests, sort_keys=True)},
    )
    quarantined = pl.concat(
        [
            rows.filter(~valid).with_columns(pl.col(REASONS).list.join("; ").alias("reason")).collect(),
            rows.filter(lost)  # read the few losers' rows only, then join their reasons
            .join(losers.lazy(), on=[FILE_ORDER, ROW], how="inner")
            .with_columns(pl.col(KEY_REASON).alias("reason"))
            .collect(),
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
            "_source_file",
            ROW,
            final_reasons().alias("parts"),
        ),
        paths.quarantine_reasons_csv(source, country),
        paths.quarantine_summary_csv(source, country),
    )
    counts = quarantined.group_by("_source_file").agg(
        pl.len().alias("q"), pl.col("reason").str.starts_with(SUPERSEDED).sum().alias("s")
    )
    per_file = {r["_source_file"]: (r["q"], r["s"]) for r in counts.iter_rows(named=True)}
    for outcome in report.files:
        q, s = per_file.get(outcome.file, (0, 0))
        outcome.rows_quarantined, outcome.rows_superseded = q - s, s
        outcome.rows_loaded = outcome.rows_read - q if outcome.status == "loaded" else 0
    report.rows_staged, report.rows_quarantined = slim.height - losers.height, quarantine.height
    _write_atomic(report.frame(), paths.file_report(source, country))
    write_csv_atomic(report.frame(), paths.file_report_csv(source, country))


# The partner reports: CSV beside quarantine.parquet and files.parquet, for partners and national teams, who open
# spreadsheets, not Parquet; their reasons are masked (reasons.partner_reason).
FIRST_ROWS = 10  # row numbers a summary line lists


def _write_partner_quarantine(source: str, parts: pl.DataFrame, reasons_csv: Path, summary_csv: Path) -> None:
    """The quarantine as partners can open it, no personal value in it (`partner_reason`):

    - quarantine_reasons.csv: file, row, reason: one line per quarantined row (the file as delivered, relative to
      raw/; the row a spreadsheet shows), its reasons masked and joined by "; ";
    - quarantine_summary.csv: file, rule, count, first_rows: per file and broken rule, how many rows break it and the
      first FIRST_ROWS of them ("2, 7, 9").

    `parts`: `_source_file`, `_source_row` and `parts`, the list of a row's reasons (its key reason for a loser).
    """
    exploded = parts.explode("parts").rename({"_source_file": "file", ROW: "row", "parts": "part"}).drop_nulls("part")
    exploded = partner_parts(exploded, source)
    reasons = (
        exploded.group_by("file", "row", maintain_order=True)
        .agg(pl.col("reason").str.join("; "))
        .sort("file", "row", maintain_order=True)
    )
    summary = (
        exploded.group_by("file", "rule", maintain_order=True)
        .agg(pl.col("row").n_unique().alias("count"), pl.col("row").unique().sort().alias("_rows"))
        .sort("file", pl.col("_rows").list.first(), "rule")
        .select(
            "file",
            "rule",
            "count",
            pl.col("_rows")
            .list.head(FIRST_ROWS)
            .list.eval(pl.element().cast(pl.String))
            .list.join(", ")
            .alias("first_rows"),
        )
    )
    write_csv_atomic(reasons, reasons_csv)
    write_csv_atomic(summary, summary_csv)


def write_csv_atomic(frame: pl.DataFrame, target: Path) -> None:
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


def _sink_atomic(frame: pl.LazyFrame, target: Path, metadata: dict[str, str] | None = None) -> None:
    """Stream a lazy frame into Parquet next to the target (with `metadata` in its footer), then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    frame.sink_parquet(
        tmp, compression="zstd", compression_level=1, row_group_size=256_000, metadata=metadata
    )  # level 1: 25% faster than 3, 2% larger
    os.replace(tmp, target)


def _write_atomic(frame: pl.DataFrame, target: Path) -> None:
    """Write next to the target, then rename: a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    frame.write_parquet(tmp, compression="zstd", row_group_size=256_000)
    os.replace(tmp, target)
