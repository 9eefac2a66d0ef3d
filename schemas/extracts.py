"""pandera (polars) schemas of the staged extracts: the row-level rules of the contract.

Columns and nullability come from `schemas.canonical`; this module adds the value rules.
A row failing any rule is quarantined with the rule's description as its reason.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

from schemas.canonical import (
    AGE_BANDS,
    CONTRACT_TYPES,
    EXTRACTS,
    FACTORY_STATUSES,
    OCCUPATIONS,
    PAY_BASES,
    PAYMENT_METHODS,
    PICC_CATEGORIES,
    PICC_TITLES,
    QUESTION_TYPES,
    SEX_CODES,
)

DTYPES = {
    "int": pl.Int64,
    "float": pl.Float64,
    "text": pl.String,
    "date": pl.Date,
    "period": pl.String,
    "flag": pl.Int64,
    "likert": pl.Int64,
}

ge0 = pa.Check.ge(0)
# A sex code that is not F or M after the mapping: the usual fix is a `values.sex` entry, so say so.
sex_code = pa.Check.isin(
    SEX_CODES, error="is not a sex code F or M (declare other codes under values.sex in schemas/mappings/<ISO3>.yaml)"
)
# A month has at most 31 x 24 = 744 hours; beyond these a value is a keying error, not a long month.
MAX_REGULAR_HOURS, MAX_OVERTIME_HOURS = 310, 200
EARLIEST_DATE = dt.date(1940, 1, 1)

VALUE_RULES: dict[str, dict[str, list[pa.Check]]] = {
    "factories": {
        "factory_id": [pa.Check.gt(0)],
        "status": [pa.Check.isin(FACTORY_STATUSES)],
        "country_code_iso2": [pa.Check.str_matches(r"^[A-Z]{2}$")],
        "total_workers": [ge0],
        "female_workers": [ge0],
        "male_workers": [ge0],
    },
    "assessments": {
        "cycle": [pa.Check.ge(1)],
        "assessment_id": [pa.Check.gt(0)],
        "factory_id": [pa.Check.gt(0)],
        "question_type": [pa.Check.isin(QUESTION_TYPES)],
    },
    "picc_members": {
        "title": [pa.Check.isin(PICC_TITLES)],
        "category": [pa.Check.isin(PICC_CATEGORIES)],
        "is_current_chair": [pa.Check.isin(("Yes", "No"))],
    },
    "payroll": {
        "sex": [sex_code],
        "occupation": [pa.Check.isin(OCCUPATIONS)],
        "contract_type": [pa.Check.isin(CONTRACT_TYPES)],
        "pay_basis": [pa.Check.isin(PAY_BASES)],
        "payment_method": [pa.Check.isin(PAYMENT_METHODS)],
        "currency": [pa.Check.str_matches(r"^[A-Z]{3}$")],
        "days_worked": [pa.Check.in_range(0, 31)],
        "regular_hours": [pa.Check.in_range(0, MAX_REGULAR_HOURS)],
        "overtime_hours": [pa.Check.in_range(0, MAX_OVERTIME_HOURS)],
        **{
            c: [ge0]
            for c in ("basic_pay", "overtime_pay", "allowances", "bonuses", "deductions", "social_security_employee")
        },
    },
    "social_security": {
        **{c: [ge0] for c in ("insurable_wage", "employer_contribution", "employee_contribution")},
    },
    "worker_survey": {
        "sex": [sex_code],
        "age_band": [pa.Check.isin(AGE_BANDS)],
        "survey_round": [pa.Check.ge(1)],
        **{c.name: [pa.Check.isin((0, 1))] for c in EXTRACTS["worker_survey"].columns if c.type == "flag"},
        **{c.name: [pa.Check.in_range(1, 6)] for c in EXTRACTS["worker_survey"].columns if c.type == "likert"},
    },
}

ROW_RULES: dict[str, list[pa.Check]] = {
    "assessments": [
        pa.Check(
            lambda data: data.lazyframe.select(
                (pl.col("question_type") != "NCQ") | pl.col("finding").is_in(["0", "1"]).fill_null(False)
            ),
            name="ncq_finding_is_0_or_1",
            error="an NCQ finding must be 0 or 1",
        )
    ],
    "picc_members": [
        pa.Check(
            lambda data: data.lazyframe.select(
                pl.col("date_left").is_null() | (pl.col("date_left") >= pl.col("date_joined"))
            ),
            name="left_after_joining",
            error="Date Left is before Date Joined",
        )
    ],
}


def _column_schema(source: str, name: str, type_: str, nullable: bool) -> pa.Column:
    checks = list(VALUE_RULES.get(source, {}).get(name, []))
    if type_ == "date":
        checks.append(pa.Check.in_range(EARLIEST_DATE, dt.date.today() + dt.timedelta(days=366)))
    return pa.Column(DTYPES[type_], checks=checks, nullable=nullable)


def staged_schema(source: str) -> pa.DataFrameSchema:
    """The schema a staged frame of `source` must satisfy (pseudonym columns included)."""
    extract = EXTRACTS[source]
    columns = {c.name: _column_schema(source, c.name, c.type, c.nullable) for c in extract.staged_columns}
    columns |= {pid: pa.Column(pl.String, nullable=False) for pid in extract.pseudonymise}
    return pa.DataFrameSchema(columns, checks=ROW_RULES.get(source, []), strict=False, name=f"staged_{source}")


SCHEMAS = {source: staged_schema(source) for source in EXTRACTS}

# Lineage every staged row carries: its file, its row as a spreadsheet shows it, the file's hash and the times.
ROW = "_source_row"
LINEAGE = {
    "_source_file": pl.String,
    ROW: pl.Int64,
    "_file_sha256": pl.String,
    "_delivered_at": pl.Datetime("us", "UTC"),
    "_loaded_at": pl.Datetime("us", "UTC"),
}


def staged_dtypes(source: str) -> dict[str, pl.DataType]:
    """The columns of a staged file of `source` with their polars types: those of its pandera schema, then lineage."""
    return {name: dtype.type for name, dtype in SCHEMAS[source].dtypes.items()} | LINEAGE
