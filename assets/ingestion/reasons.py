"""Quarantine reasons: every text a quarantined row can carry, how a row's reasons are assembled, and how a
partner may read them (masked).

Each step of ingestion takes its reason texts from here: the reader (an empty row, a last line cut short), the
typing (a value that is not what its column expects), validation (pandera's failure cases, the factory register,
absurd pay, the country code) and staging (duplicate keys, superseded rows). `partner_reason` parses these same
texts back to mask the values they quote, so a text and the pattern that reads it stand side by side.
"""

from __future__ import annotations

import re
from functools import cache

import polars as pl

from schemas.canonical import EXTRACTS
from schemas.extracts import SCHEMAS
from schemas.reference import monthly_minimum_wages, programme_countries

REASONS = "_reasons"  # a row's reasons, a list of text: empty for a row that loads
PROBLEM = "_read_problem"  # why a row could not be read whole (empty, cut short); null for a sound row
KEY_REASON = "_key_reason"  # why a valid row lost to another with its key (staging); null for a winner

# ------------------------------------------------------------------------------------------ reading
EMPTY_ROW = "empty row: no values"
_CUT_SHORT = re.compile(
    r"cut short: the last line has \d+ of \d+ fields and no line break \(the file was truncated; re-deliver it whole\)"
)


def cut_short(fields: int, width: int) -> str:
    """A last line without a line break and with fewer fields than the header."""
    return (
        f"cut short: the last line has {fields} of {width} fields and no line break "
        "(the file was truncated; re-deliver it whole)"
    )


# ------------------------------------------------------------------------------------------ typing
def not_understood(column: str, expects: str, text: pl.Expr) -> pl.Expr:
    """A delivered value (its first 40 characters) that does not parse as its column's type."""
    return pl.format(f"{column}: '{{}}' is not {expects}", text.str.slice(0, 40))


def with_reasons(frame: pl.DataFrame, broken: pl.Expr, reasons: pl.Expr, columns: list, order: str) -> pl.DataFrame:
    """`columns` of `frame` plus `_reasons`: `reasons` on the rows where `broken` holds, an empty list
    elsewhere, sorted by `order`. The list is built for the broken rows only: a list for each of
    millions of sound rows costs more than all the parsing. (Eager on purpose: polars 2.1 panics
    formatting some string columns of a lazily filtered frame.)"""
    sound = frame.filter(~broken).select(*columns, pl.lit([], dtype=pl.List(pl.String)).alias(REASONS))
    flagged = frame.filter(broken).select(*columns, reasons.alias(REASONS))
    return pl.concat([sound, flagged]).sort(order)


# ------------------------------------------------------------------------------------------ validation
# Money a row can hold before it is a keying error rather than a pay: this many times the highest monthly
# minimum wage the reference seed knows for the country in the row's currency (the sample's managers
# earn about 3-5 times the minimum; a general manager rarely 50). Checked on the amounts the indicators
# use; net pay and deductions feed none.
ABSURD_PAY_FACTOR = 100
MONEY_COLUMNS = {
    "payroll": ("basic_pay", "overtime_pay", "allowances", "bonuses"),
    "social_security": ("insurable_wage", "employer_contribution", "employee_contribution"),
}
Check = tuple[pl.Expr, pl.Expr]  # (when a row breaks a rule pandera cannot express, the reason)


def row_checks(source: str, country: str, register: pl.Series | None) -> list[Check]:
    """The rules pandera cannot express: a factory id outside the country's register, absurd pay, and a factory
    register row of another country."""
    checks = []
    if register is not None:
        unknown = pl.col("factory_id").is_not_null() & ~pl.col("factory_id").is_in(register.implode())
        reason = pl.format(f"factory_id: {{}} is not in the factory register of {country}", pl.col("factory_id"))
        checks.append((unknown, reason))
    checks += _absurd_pay(source, country)
    if source == "factories":
        iso2 = programme_countries()[country]
        wrong = pl.col("country_code_iso2").is_not_null() & (pl.col("country_code_iso2") != iso2)
        reason = pl.format(f"Country Code: '{{}}' is not {iso2} ({country})", pl.col("country_code_iso2"))
        checks.append((wrong, reason))
    return checks


def _absurd_pay(source: str, country: str) -> list[Check]:
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


def schema_failures(cases: pl.DataFrame | None, columns: set[str]) -> pl.DataFrame:
    """pandera's failure cases (None: no failure) as reasons: per row position (`index`), the rules it breaks
    (`_reasons_pandera`)."""
    if cases is None:
        return pl.DataFrame(schema={"index": pl.Int64, "_reasons_pandera": pl.List(pl.String)})
    # Built in Python over the failure cases (few: one per broken cell), not as a polars when/then
    # chain: polars 2.1 panics evaluating that chain over some string columns.
    described = [
        f"{column}: missing value"
        if check == "not_nullable"
        else f"{column}: '{str(case)[:40]}' {check}"
        if column in columns and check.startswith("is ")  # a worded rule
        else f"{column}: '{str(case)[:40]}' fails {check}"
        if column in columns
        else check
        for column, case, check in zip(
            cases["column"].to_list(), cases["failure_case"].to_list(), cases["check"].to_list(), strict=True
        )
    ]
    return (
        cases.select(pl.col("index").cast(pl.Int64))
        .with_columns(pl.Series("reason", described, dtype=pl.String))
        .group_by("index", maintain_order=True)
        .agg(pl.col("reason").unique(maintain_order=True).alias("_reasons_pandera"))
    )


def row_reasons(typed: pl.DataFrame, failures: pl.DataFrame, checks: list[Check]) -> pl.DataFrame:
    """A typed frame's rows with their whole `_reasons` list: its typing's, pandera's (`failures`, per row position
    in `typed`) and those of `checks`; the read problem column is dropped, once it has become a reason."""
    typed = typed.with_row_index("_pos").with_columns(pl.col("_pos").cast(pl.Int64))
    typed = typed.join(failures, left_on="_pos", right_on="index", how="left", maintain_order="left")
    broken = pl.any_horizontal(
        pl.col(REASONS).list.len() > 0,
        pl.col("_reasons_pandera").is_not_null(),
        pl.col(PROBLEM).is_not_null(),
        *[when for when, _ in checks],
    )
    # a value that did not parse is not also "missing"
    missing_and_unparsable = (
        pl.element().str.ends_with(": missing value") & pl.element().str.extract(r"^([^:]+):", 1).is_duplicated()
    )
    reasons = (
        pl.concat_list(
            pl.col(REASONS),
            pl.col("_reasons_pandera").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            *[pl.when(when).then(reason) for when, reason in checks],
        )
        .list.drop_nulls()
        .list.eval(pl.element().filter(~missing_and_unparsable))
    )
    # a row the reader could not take whole (empty, cut short) has that one reason, not its consequences
    reasons = pl.when(pl.col(PROBLEM).is_not_null()).then(pl.concat_list(pl.col(PROBLEM))).otherwise(reasons)
    kept = [c for c in typed.columns if c not in ("_pos", "_reasons_pandera", PROBLEM)]
    return with_reasons(typed, broken, reasons, ["_pos", *[c for c in kept if c != REASONS]], "_pos").select(kept)


# ------------------------------------------------------------------------------------------ keys (staging)
SUPERSEDED = "superseded by"


def _key_description(key: list[str]) -> pl.Expr:
    """A key as a reason may quote it: its factory, period or round with their values, but a pseudonym only as
    "the same worker" (reasons reach reports, logs and run metadata; a pseudonym must not)."""
    pseudonyms = {pid for extract in EXTRACTS.values() for pid in extract.pseudonymise}
    parts = []
    for k in key:
        if k in pseudonyms:
            parts.append(pl.lit(f"the same {k.removesuffix('_pid')}"))
        else:
            parts += [pl.lit(f"{k} "), pl.col(k).cast(pl.String)]
        parts.append(pl.lit(", "))
    return pl.concat_str(parts[:-1])  # pl.format here panics in polars 2.1 (binview index), concat_str does not


def duplicate_key(key: list[str], rows: pl.Expr) -> pl.Expr:
    """Rows of one file sharing a key with different values (`rows`: their row numbers, a list of text)."""
    text = "duplicate key ({}) with different values in rows {} of the same file"
    return pl.format(text, _key_description(key), rows.list.join(", "))


def duplicate_row(first_row: pl.Expr) -> pl.Expr:
    return pl.format("duplicate row: same as row {}", first_row)


def superseded(file: pl.Expr, row: pl.Expr) -> pl.Expr:
    return pl.format(f"{SUPERSEDED} {{}} row {{}}", file, row)


def final_reasons() -> pl.Expr:
    """A row's reasons as quarantined: its key reason alone when it lost to another row, else its `_reasons`."""
    return pl.when(pl.col(KEY_REASON).is_not_null()).then(pl.concat_list(KEY_REASON)).otherwise(pl.col(REASONS))


# ------------------------------------------------------------------------------------------ partner masking
# The partner reports: CSV beside quarantine.parquet and files.parquet, for partners and national teams, who open
# spreadsheets, not Parquet. A reason may quote the delivered value that broke a rule (a wage, a date, a name keyed
# into the wrong column): the CSVs keep the rule and drop the value, written MASK.
MASK = "…"
NOT_SHOWN = "reason not shown here (it may quote a value): ask the national team for the quarantine report"
_QUOTED = re.compile(
    r"'.*' ((?:is|fails) .+)", re.S
)  # greedy: the value ends at the LAST "' is"/"' fails" (tails quote none)
_NOT_REGISTERED = re.compile(r".+ (is not in the factory register of [A-Z]{3})", re.S)
_ABSURD = re.compile(
    rf".+ (is over {ABSURD_PAY_FACTOR} times the highest monthly minimum wage of "
    r"[A-Z]{3} \([^()]*\): a keying error\?)",
    re.S,
)


@cache
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
    Only the forms of this module are recognised; any other reason is replaced by NOT_SHOWN whole (after its
    column, when it names one), never shown in part.
    """
    columns, row_rules, key = _reason_grammar(source)
    if reason == EMPTY_ROW or reason in row_rules or _CUT_SHORT.fullmatch(reason):
        return reason, reason
    if re.fullmatch(r"duplicate row: same as row \d+", reason):
        return reason, f"duplicate row: same as row {MASK}"
    if m := re.fullmatch(rf"{SUPERSEDED} (.+) row \d+", reason, re.S):  # a delivered file's name: lineage, not a value
        return reason, f"{SUPERSEDED} {m[1]} row {MASK}"
    duplicate = r"duplicate key \(.*\) with different values in rows (\d+(?:, \d+)*) of the same file"
    if m := re.fullmatch(duplicate, reason, re.S):
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


def partner_parts(exploded: pl.DataFrame, source: str) -> pl.DataFrame:
    """`exploded` (one reason a line, as `part`) with the reason a partner may read and its rule (`partner_reason`).
    The bulk of a large quarantine (rows superseded by a later file) quotes no value and is kept by polars; the
    other reasons are masked once per distinct text."""
    lineage_only = pl.col("part").str.contains(rf"^(?:{SUPERSEDED} .+|duplicate row: same as) row \d+$")
    distinct = exploded.filter(~lineage_only).get_column("part").unique(maintain_order=True).to_list()
    masked = pl.DataFrame(
        [(part, *partner_reason(part, source)) for part in distinct],
        schema={"part": pl.String, "reason": pl.String, "rule": pl.String},
        orient="row",
    )
    return exploded.join(masked, on="part", how="left", maintain_order="left").with_columns(
        pl.col("reason").fill_null(pl.col("part")),
        pl.col("rule").fill_null(pl.col("part").str.replace(r"row \d+$", f"row {MASK}")),
    )
