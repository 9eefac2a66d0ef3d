"""The validation step: a typed, pseudonymised frame's rows checked against the contract (pandera, schemas/extracts.py)
and the rules pandera cannot express (reasons.row_checks); every reason a row has ends up in its `_reasons` list."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from assets.ingestion.reasons import REASONS, row_checks, row_reasons, schema_failures
from schemas.extracts import SCHEMAS


def validate(typed: pl.DataFrame, source: str, country: str, register: pl.Series | None) -> pl.DataFrame:
    """`typed` with each row's whole reason list (`reasons.row_reasons`); `register`: the factory ids of the
    country's staged register, checked against the rows' (None: not checked)."""
    return row_reasons(typed, _pandera_failures(typed, source), row_checks(source, country, register))


def _pandera_failures(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Per row position, the pandera rules the row breaks (as reasons: `schema_failures`)."""
    try:
        SCHEMAS[source].validate(frame.drop(REASONS), lazy=True)
        return schema_failures(None, set(frame.columns))
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    rowless = cases.filter(pl.col("index").is_null())
    if rowless.height:  # a schema-level failure (wrong dtype): a bug in our typing, not bad input
        raise RuntimeError(f"staged {source} frame breaks its schema: {rowless.to_dicts()[:3]}")
    return schema_failures(cases, set(frame.columns))
