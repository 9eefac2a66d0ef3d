"""Map a delivered frame onto the canonical contract and type it, recording why a value fails.

Input: the all-text frame of `readers.read_delivery`. Output: staged names and types, plus a
`_reasons` list column holding, per row, every value that could not be understood. Personal
columns are then pseudonymised or dropped (assets/pseudonyms.py), before anything is written anywhere.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from assets.readers import PROBLEM, ROW, RejectedFile, fold, misplaced_header
from schemas.canonical import SURVEY_MISSING_CODES, Column, Extract
from schemas.mapping import Delivery

REASONS = "_reasons"
PERIOD_RE = r"^\d{4}-(0[1-9]|1[0-2])$"


def canonical_headers(frame: pl.DataFrame, extract: Extract, delivery: Delivery, path: Path) -> tuple[pl.DataFrame, list[str]]:
    """Rename delivered headers to canonical headers; reject the file when a required one is missing.

    A header matches by the mapping file, else by canonical header or staged name, ignoring case
    and repeated spaces. Returns the frame with canonical headers and the ignored extra columns.
    """
    if PROBLEM not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(PROBLEM))
    known = {fold(c.header): c.header for c in extract.columns} | {fold(c.name): c.header for c in extract.columns}
    mapped = {fold(k): v for k, v in delivery.columns.items()}
    renames: dict[str, str] = {}
    extras: list[str] = []
    for name in frame.columns:
        if name in (ROW, PROBLEM):
            continue
        target = mapped.get(fold(name)) or known.get(fold(name))
        target = known.get(fold(target), target) if target else None  # mapping may name the staged form
        if target is None or target in renames.values():
            extras.append(name)
        else:
            renames[name] = target
    missing = [c.header for c in extract.columns if c.required and c.header not in renames.values()]
    if missing:
        raise _missing_columns(frame, extract, delivery, path, missing, matched=bool(renames))
    frame = frame.select([ROW, PROBLEM, *renames]).rename(renames)
    absent = [c.header for c in extract.columns if c.header not in frame.columns]
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(h) for h in absent), extras


def _missing_columns(frame: pl.DataFrame, extract: Extract, delivery: Delivery, path: Path, missing: list[str], matched: bool) -> RejectedFile:
    """The rejection of a file lacking required columns, with the likeliest fix.

    When none of the first row's cells is a contract header, that row is a title or data, not a header:
    its cells are not quoted (they may be personal data).
    """
    hint = misplaced_header(path, delivery)
    if hint is not None:
        return hint
    columns = [c for c in frame.columns if c not in (ROW, PROBLEM)]
    has = f"the file has {columns}" if matched else (
        f"none of the {len(columns)} cells of its first row is a column of the contract (no header row, "
        "or headers in another language)"
    )
    return RejectedFile(
        path,
        f"missing required column(s) {missing}; {has}",
        f"add the column(s) to the delivery, or map the delivered header onto them in "
        f"schemas/mappings/{delivery.country}.yaml (sources.{extract.source}.columns)",
    )


def _text(col: str) -> pl.Expr:
    """Trimmed text, empty -> null."""
    value = pl.col(col).str.strip_chars()
    return pl.when(value.str.len_chars() == 0).then(None).otherwise(value)


def _parse(column: Column, delivery: Delivery) -> tuple[pl.Expr, str]:
    """Expression typing one canonical column (from its trimmed text) and what it expects."""
    raw = _text(column.header)
    if column.type == "int" or column.type in ("flag", "likert"):
        as_float = raw.str.replace_all(",", ".").cast(pl.Float64, strict=False)
        typed = pl.when(as_float == as_float.round(0)).then(as_float.cast(pl.Int64, strict=False))
        expects = {"int": "a whole number", "flag": "0 or 1", "likert": "a code 1-6"}[column.type]
        return typed, expects
    if column.type == "float":
        text = raw.str.replace_all(r"[\s\u00a0]", "")
        if delivery.decimal_comma:  # a dot only as a thousands separator: 1.234,5 yes, 201.5 no (never read as 2015)
            grouped = text.str.contains(r"^-?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?$")
            text = pl.when(grouped).then(text.str.replace_all(r"\.", "").str.replace(",", ".", literal=True))
        return text.cast(pl.Float64, strict=False), "a number" + (" with a decimal comma" if delivery.decimal_comma else "")
    if column.type == "date":
        head = raw.str.slice(0, 10)
        candidates = [raw.str.to_date(fmt, strict=False) for fmt in delivery.date_formats]
        candidates += [head.str.to_date("%Y-%m-%d", strict=False)]  # Excel date cells arrive as ISO datetimes
        return pl.coalesce(candidates), "a real date as " + " or ".join(delivery.date_formats)
    if column.type == "period":
        return pl.when(raw.str.contains(PERIOD_RE)).then(raw), "a month as YYYY-MM"
    return raw, "text"


def with_reasons(frame: pl.DataFrame, broken: pl.Expr, reasons: pl.Expr, columns: list, order: str) -> pl.DataFrame:
    """`columns` of `frame` plus `_reasons`: `reasons` on the rows where `broken` holds, an empty list
    elsewhere, sorted by `order`. The list is built for the broken rows only: a list for each of
    millions of sound rows costs more than all the parsing. (Eager on purpose: polars 2.1 panics
    formatting some string columns of a lazily filtered frame.)"""
    sound = frame.filter(~broken).select(*columns, pl.lit([], dtype=pl.List(pl.String)).alias(REASONS))
    flagged = frame.filter(broken).select(*columns, reasons.alias(REASONS))
    return pl.concat([sound, flagged]).sort(order)


def type_columns(frame: pl.DataFrame, extract: Extract, delivery: Delivery) -> pl.DataFrame:
    """Translate codes, parse every column to its type and collect the parse failures per row.

    The parsed values are materialised first, so each parse runs once; the reasons come from `with_reasons`.
    """
    if PROBLEM not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(PROBLEM))
    translated = []
    for column in extract.columns:
        codes = delivery.value_map(column.header) | delivery.value_map(column.name)
        expr = _text(column.header)
        if codes:  # compared folded, as schemas.mapping.fold folds the mapping's codes
            folded = expr.str.replace_all(r"[\s\u00a0\u200b\ufeff]+", " ").str.strip_chars().str.to_lowercase()
            expr = folded.replace_strict(codes, default=expr, return_dtype=pl.String)
        translated.append(expr.alias(column.header))
    parses = {column: _parse(column, delivery) for column in extract.columns}
    value = {column: f"__value_{i}" for i, column in enumerate(extract.columns)}
    parsed = frame.lazy().with_columns(translated).with_columns(parses[c][0].alias(value[c]) for c in extract.columns).collect()

    typed, failures, problems = [], [], []
    for column in extract.columns:
        text, parsed_value = pl.col(column.header), pl.col(value[column])
        failed = text.is_not_null() & parsed_value.is_null()
        failures.append(failed)
        problems.append(pl.when(failed).then(pl.format(f"{column.name}: '{{}}' is not {parses[column][1]}", text.str.slice(0, 40))))
        if column.type in ("flag", "likert"):  # survey codes -98/-99: missing, never a value
            parsed_value = pl.when(parsed_value.is_in(list(SURVEY_MISSING_CODES))).then(None).otherwise(parsed_value)
        typed.append(parsed_value.alias(column.name))
    typed_frame = with_reasons(parsed, pl.any_horizontal(failures), pl.concat_list(problems).list.drop_nulls(), [ROW, *typed, PROBLEM], ROW)
    return typed_frame.select(ROW, *[c.name for c in extract.columns], REASONS, PROBLEM)
