"""The typing step: translate codes and type every column of a frame under the contract's headers, recording why a
value fails.

Input: the all-text frame of `read.canonical_headers`. Output: staged names and types, plus a `_reasons` list
column holding, per row, every value that could not be understood. Personal columns are then pseudonymised or
dropped (assets/ingestion/pseudonyms.py), before anything is written anywhere.
"""

from __future__ import annotations

import polars as pl

from assets.ingestion.reasons import PROBLEM, REASONS, not_understood, with_reasons
from schemas.canonical import SURVEY_MISSING_CODES, Column, Extract
from schemas.extracts import ROW
from schemas.mapping import Delivery

PERIOD_RE = r"^\d{4}-(0[1-9]|1[0-2])$"


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
        return text.cast(pl.Float64, strict=False), "a number" + (
            " with a decimal comma" if delivery.decimal_comma else ""
        )
    if column.type == "date":
        head = raw.str.slice(0, 10)
        candidates = [raw.str.to_date(fmt, strict=False) for fmt in delivery.date_formats]
        candidates += [head.str.to_date("%Y-%m-%d", strict=False)]  # Excel date cells arrive as ISO datetimes
        return pl.coalesce(candidates), "a real date as " + " or ".join(delivery.date_formats)
    if column.type == "period":
        return pl.when(raw.str.contains(PERIOD_RE)).then(raw), "a month as YYYY-MM"
    return raw, "text"


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
    parsed = (
        frame.lazy()
        .with_columns(translated)
        .with_columns(parses[c][0].alias(value[c]) for c in extract.columns)
        .collect()
    )

    typed, failures, problems = [], [], []
    for column in extract.columns:
        text, parsed_value = pl.col(column.header), pl.col(value[column])
        failed = text.is_not_null() & parsed_value.is_null()
        failures.append(failed)
        problems.append(pl.when(failed).then(not_understood(column.name, parses[column][1], text)))
        if column.type in ("flag", "likert"):  # survey codes -98/-99: missing, never a value
            parsed_value = pl.when(parsed_value.is_in(list(SURVEY_MISSING_CODES))).then(None).otherwise(parsed_value)
        typed.append(parsed_value.alias(column.name))
    typed_frame = with_reasons(
        parsed, pl.any_horizontal(failures), pl.concat_list(problems).list.drop_nulls(), [ROW, *typed, PROBLEM], ROW
    )
    return typed_frame.select(ROW, *[c.name for c in extract.columns], REASONS, PROBLEM)
