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
    return _text_of(pl.col(col))


def _text_of(expr: pl.Expr) -> pl.Expr:
    value = expr.str.strip_chars()
    return pl.when(value.str.len_chars() == 0).then(None).otherwise(value)


def _translated(column: Column, codes: dict[str, str]) -> pl.Expr:
    """A coded column's trimmed text translated to the contract's codes, compared folded (as schemas.mapping.fold
    folds the mapping's codes); a text no code matches is kept as delivered."""
    expr = _text(column.header)
    folded = expr.str.replace_all(r"[\s\u00a0\u200b\ufeff]+", " ").str.strip_chars().str.to_lowercase()
    return folded.replace_strict(codes, default=expr, return_dtype=pl.String)


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

    Fast path first (`_fast_typed`): each value cast straight from its delivered text; a row where any cast
    fails (or whose text needs trimming, a decimal comma, another date format...) goes through the text path
    (`_type_columns_text`), which alone words the reasons. Both give the same value wherever the fast cast works.
    """
    if PROBLEM not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(PROBLEM))
    fast = _fast_typed(frame, extract, delivery)
    if fast is None:
        return _type_columns_text(frame, extract, delivery)
    fast, slow = fast
    if slow is None:
        return fast
    return pl.concat([fast, _type_columns_text(frame.filter(slow), extract, delivery)]).sort(ROW)


SLOW = "__slow"
MAX_CODES_DISTINCT = 1000  # a coded column translated once per distinct text up to this many distinct texts


def _fast_typed(
    frame: pl.DataFrame, extract: Extract, delivery: Delivery
) -> tuple[pl.DataFrame, pl.Series | None] | None:
    """The rows whose every value casts straight from its delivered text, typed, with empty reasons, and the mask
    of the other rows (None when there are none); None when the layout has no fast path (a coded number). A fast
    value is the text path's value: a text that casts as it is needs no trimming (a number or a month with spaces
    does not cast), so the text path's clean-up changes nothing before the same cast."""
    keep_text = {n for sources in extract.pseudonymise.values() for n in sources.split(",")}
    exprs, slow = [], []
    for column in extract.columns:
        raw = pl.col(column.header)
        if column.personal and column.name not in keep_text:  # dropped by pseudonymise, never checked: not typed
            exprs.append(pl.lit(None, dtype=pl.String).alias(column.name))
            continue
        codes = delivery.value_map(column.header) | delivery.value_map(column.name)
        if column.type == "text":
            if any(not str(target).strip() for target in codes.values()):  # a code to nothing: the text path words it
                return None
            if codes:
                exprs.append(_translated_by_distinct(frame, column, codes).alias(column.name))
            else:
                exprs.append(_text(column.header).alias(column.name))
            continue
        if codes or (column.type == "date" and not delivery.date_formats):  # the text path only
            return None
        if column.type in ("int", "flag", "likert"):
            as_float = raw.cast(pl.Float64, strict=False)  # no "," and no space, or it does not cast
            value = pl.when(as_float == as_float.round(0)).then(as_float.cast(pl.Int64, strict=False))
        elif column.type == "float" and not delivery.decimal_comma:
            value = raw.cast(pl.Float64, strict=False)
        elif column.type == "float":  # 1234,5 only: anything else (1.234,5, spaces, 1e5) by the text path
            plain = raw.str.contains(r"^-?\d+(,\d+)?$")
            value = pl.when(plain).then(raw.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False))
        elif column.type == "date":  # the parser skips leading spaces as trimming would; a trailing one fails it
            value = raw.str.to_date(delivery.date_formats[0], strict=False)
        elif column.type == "period":
            value = pl.when(raw.str.contains(PERIOD_RE)).then(raw)
        else:
            raise AssertionError(column.type)
        slow.append(raw.is_not_null() & value.is_null())
        if column.type in ("flag", "likert"):
            value = pl.when(value.is_in(list(SURVEY_MISSING_CODES))).then(None).otherwise(value)
        exprs.append(value.alias(column.name))
    out = frame.select(
        ROW,
        *exprs,
        pl.lit([], dtype=pl.List(pl.String)).alias(REASONS),
        PROBLEM,
        pl.any_horizontal(slow).alias(SLOW) if slow else pl.lit(False).alias(SLOW),
    )
    mask = out.get_column(SLOW)
    if not mask.any():
        return out.drop(SLOW), None
    return out.filter(~mask).drop(SLOW), mask


def _translated_by_distinct(frame: pl.DataFrame, column: Column, codes: dict[str, str]) -> pl.Expr:
    """A coded text column as the text path types it (`_text` of its translation), worked out once per distinct
    delivered text."""
    distinct = frame.get_column(column.header).unique()
    full = _text_of(_translated(column, codes))
    if len(distinct) > MAX_CODES_DISTINCT:
        return full
    table = distinct.to_frame().with_columns(full.alias("__typed")).drop_nulls(column.header)
    mapping = dict(zip(table.get_column(column.header).to_list(), table.get_column("__typed").to_list(), strict=True))
    return pl.col(column.header).replace_strict(mapping, default=None, return_dtype=pl.String)


def _type_columns_text(frame: pl.DataFrame, extract: Extract, delivery: Delivery) -> pl.DataFrame:
    """The text path: every value trimmed, translated and parsed from its text, each failure worded."""
    translated = []
    for column in extract.columns:
        codes = delivery.value_map(column.header) | delivery.value_map(column.name)
        translated.append((_translated(column, codes) if codes else _text(column.header)).alias(column.header))
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
