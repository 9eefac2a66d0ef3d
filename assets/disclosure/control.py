"""Disclosure control of the indicator cells, the one place it is applied (docs/disclosure.md).

Input: every indicator cell before control (dbt's `int_indicator_cells`: value, numerator and denominator,
counts) and each factory's contribution to the cells (`int_factory_contributions`). Output: the published
long table (rounded values, `C` without value or counts where suppressed, `P` for a provisional year, `U`
for few workers; each cell with its months covered and coverage note), a report of the information lost, and
the audit of what was published.

1. Primary suppression (assets/disclosure/rules.py): the thresholds and the p% dominance rule.
2. Counts (layer 1), per family of cells counting the same people and year: secondary suppression by
   Gaussian elimination (assets/disclosure/gauss.py) over the count vectors, so no suppressed cell's count
   follows from published counts. Every indicator of the family shares this pattern.
3. Values (layer 2), per indicator and year: the same over the value vectors (currency variants of a pooled
   cell are separate sums), starting from layer 1's pattern, plus the range-edge rule, repeated until no
   published total at an edge of its range has a suppressed part.
4. Cells that are no sum follow the cells they are computed from (FOLLOWS).
5. The auditor (assets/disclosure/audit.py) bounds every suppressed cell by linear programming over what
   would be published; where a cell is narrowed below its protection, the smallest published total that
   contains it is protected too and steps 3-5 run again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import polars as pl

from assets.disclosure import gauss, rules
from assets.disclosure.audit import Audit, audit
from assets.disclosure.links import (
    CURRENCIES,
    DISCLOSURE,
    KEY,
    POOLED,
    YEARS_IN_PROGRAMME,
    Model,
    Row,
    populated_parts,
    preference,
    rows_from,
)

log = logging.getLogger(__name__)
MAX_REPAIRS = 20
PUBLISHED_COLUMNS = [*KEY, "obs_value", "obs_status", "unit", "n_workers", "n_factories", "months_covered", "coverage"]
PROVISIONAL = "P"  # SDMX CL_OBS_STATUS "provisional value": the cell's year is not complete (fewer than 12 months)
FULL_YEAR = 12


# --------------------------------------------------------------------------------------------- follows
def follows(row: Row, model: Model) -> list[tuple]:
    """The cells a cell that is no sum is computed from (the catalogue seed's sdc_follows): it is suppressed when any
    of them is. A median follows the mean of the same cell; a gap the followed indicator's cells of both sexes, in
    the country's own currency (a pooled gap in PPP dollars; the pooled gap of an occupation every country's cells
    of it); a ratio the followed indicator's total. The gaps by years in the programme have no cells by sex
    beside them: they are a family of their own (links.YEARS_IN_PROGRAMME)."""
    area, indicator, sex, classif1, time = row.key
    declared = DISCLOSURE[indicator]
    followed = declared.follows
    if declared.numerator == "median":
        return [(area, followed, sex, classif1, time)]
    if declared.numerator == "ratio":
        return [(area, followed, "SEX_T", "_Z", time)]
    if declared.numerator != "gap" or classif1.startswith("YIP_"):
        return []
    own_currency = "CUR_TYPE_PPP" if row.pooled else "CUR_TYPE_LCU"
    part = own_currency if classif1 == "_Z" else classif1
    if row.pooled and classif1 != "_Z":  # the pooled gap of an occupation rests on every country's cells of it
        keys = [(c, followed, s, classif1, time) for c in sorted(model.countries(row)) for s in ("SEX_F", "SEX_M")]
        return [k for k in keys if k in model.by_key]  # a country's part may have one sex only
    return [(area, followed, s, part, time) for s in ("SEX_F", "SEX_M")]


# --------------------------------------------------------------------------------------------- primary
def _threshold(frame: pl.DataFrame) -> dict[tuple, str]:
    """'C', 'U' or '' per cell by the thresholds; a gap by the counts of each sex it rests on."""
    own = rules.threshold_status(pl.col("n_workers"), pl.col("n_factories"))
    either_sex = (rules.threshold_status(pl.col("n_workers_f"), pl.col("n_factories_f")) == "C") | (
        rules.threshold_status(pl.col("n_workers_m"), pl.col("n_factories_m")) == "C"
    )
    status = (
        pl.when(pl.col("basis") == "factories")
        .then(rules.threshold_status(pl.lit(None, pl.Int64), pl.col("n_factories")))
        .when((pl.col("basis") == "gap") & either_sex)
        .then(pl.lit("C"))
        .otherwise(own)
    )
    out = frame.select(*KEY, status.alias("status"))
    return {tuple(r[:5]): r[5] for r in out.iter_rows()}


class Contributions:
    """Factory totals per cell part: (population, year, breakdown) -> country -> factory -> sex -> workers."""

    def __init__(self, frame: pl.DataFrame):
        self.parts: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
        for population, country, year, sex, breakdown, factory, n in frame.select(
            "population", "country", "year", "sex", "breakdown", "factory_key", "n"
        ).iter_rows():
            self.parts[(population, int(year), breakdown)][country][factory][sex] = int(n)

    def dominated(self, population: str, year: int, breakdown: str, countries, sexes) -> bool:
        per_factory = self.parts.get((population, year, breakdown), {})
        totals = sorted(
            (
                sum(n for s, n in by_sex.items() if s in sexes)
                for c in countries
                for by_sex in per_factory.get(c, {}).values()
            ),
            reverse=True,
        )
        totals = [t for t in totals if t > 0]
        if not totals:
            return False
        return rules.dominated(totals[0], totals[1] if len(totals) > 1 else 0, sum(totals))


def _dominance(row: Row, model: Model, contributions: Contributions) -> bool:
    fam = row.family
    sexes = {"F", "M"} if row.sex == "SEX_T" else {row.sex.removeprefix("SEX_")}
    countries = model.countries(row)
    if fam == "payroll" and row.basis != "gap":
        breakdown = (
            "SUPERVISORS"
            if row.indicator == "FEMALE_SHARE_SUPERVISORS"
            else (row.classif1 if row.classif1.startswith("OCU_") else "_Z")
        )
        return contributions.dominated("payroll", row.time, breakdown, countries, sexes)
    if fam == YEARS_IN_PROGRAMME:
        return any(contributions.dominated("payroll", row.time, row.classif1, countries, {s}) for s in ("F", "M"))
    if fam == "payroll_strata":
        return contributions.dominated("payroll", row.time, "_Z", countries, {"F", "M"})
    if fam in ("survey", "picc_members"):
        return contributions.dominated("survey" if fam == "survey" else "picc", row.time, "_Z", countries, sexes)
    return False


def primary_cells(
    cells: pl.DataFrame, model: Model, contributions: pl.DataFrame
) -> tuple[dict[tuple, str], set[tuple]]:
    """(the threshold status of every cell: 'C', 'U' or '', the cells the dominance rule makes sensitive)."""
    threshold = _threshold(cells)
    shares = Contributions(contributions)
    return threshold, {row.key for row in model.rows if threshold[row.key] != "C" and _dominance(row, model, shares)}


def range_edges(model: Model, rounded: dict[tuple, float], suppressed: set[tuple]) -> set[tuple]:
    """Suppressed linear cells whose value, rounded, sits at an edge of its range while a part of them (a cell of
    the same indicator and year over a subset of its leaves) is suppressed too: sensitive by the range-edge rule."""
    by_table: dict[tuple, list[Row]] = defaultdict(list)
    for row in model.rows:
        if row.linear and row.key in suppressed:
            by_table[(row.indicator, row.time)].append(row)
    out = set()
    for rows in by_table.values():
        leaves = {r.key: model.value_vector(r).keys() for r in rows}
        for row in rows:
            if _at_edge([row], rounded) and any(o.key != row.key and leaves[o.key] <= leaves[row.key] for o in rows):
                out.add(row.key)
    return out


# --------------------------------------------------------------------------------------------- layers
def _counts_layer(model: Model, primary: dict[tuple, bool]) -> set[tuple]:
    """Layer 1: the rows whose counts are suppressed (module docstring, step 2)."""
    suppressed: set[tuple] = set()
    by_family: dict[tuple, list[Row]] = defaultdict(list)
    for row in model.rows:
        by_family[(row.family, row.time)].append(row)
    for (fam, _), rows in by_family.items():
        groups: dict[tuple, list[Row]] = defaultdict(list)
        for row in rows:
            groups[model.count_vectors(row)].append(row)
        # a gap's sensitive counts are its sexes', which the family's cells by sex carry; the gaps by years in the
        # programme have no such cells, so they are the sensitive ones of their family (a pooled gap is close to
        # the countries' gaps weighted by their workers: X_BW less the others would approximate a lone suppressed one)
        sensitive = {
            g for g, rs in groups.items() if any(primary[r.key] and (r.basis != "gap" or fam != "payroll") for r in rs)
        }
        cells = [gauss.Cell(g, [dict.fromkeys(v, 1) for v in g], protected=g in sensitive) for g in groups]
        order = sorted(groups, key=lambda g: preference(groups[g]))
        chosen = gauss.secondary_suppression(cells, order, sensitive)
        suppressed |= {r.key for g in chosen for r in groups[g]}
    return suppressed


def _at_edge(rows: list[Row], rounded: dict[tuple, float]) -> bool:
    for row in rows:
        low, high = rules.value_range(row.indicator, row.unit)
        if rounded.get(row.key) in (low, high):
            return True
    return False


def _values_layer(
    model: Model, counts: set[tuple], primary: dict[tuple, bool], rounded: dict[tuple, float], extra: dict[tuple, set]
) -> tuple[set[tuple], set[tuple]]:
    """Layer 2: (the rows whose values are suppressed, the rows suppressed for a range edge)."""
    suppressed: set[tuple] = set()
    edges_found: set[tuple] = set()
    tables: dict[tuple, dict[tuple, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in model.rows:
        if row.linear:
            tables[(row.indicator, row.time)][model.status_key(row)].append(row)
    for table, units in tables.items():
        vectors = {u: model.value_vector(rs[0]) for u, rs in units.items()}
        forced = {u for u, rs in units.items() if any(r.key in counts for r in rs)}
        protected = {u for u, rs in units.items() if any(primary[r.key] for r in rs)} | extra.get(table, set())
        order = sorted(units, key=lambda u: preference(units[u]))
        edges: set = set()
        while True:
            targets = protected | edges
            cells = [gauss.Cell(u, [vectors[u]], protected=u in targets) for u in units]
            chosen = gauss.secondary_suppression(cells, order, forced | targets)
            new = {
                u
                for u in units
                if u not in chosen
                and u not in edges
                and _at_edge(units[u], rounded)
                and any(v != u and v in chosen and vectors[v].keys() <= vectors[u].keys() for v in units)
            }
            if not new:
                break
            edges |= new
        suppressed |= {r.key for u in chosen for r in units[u]}
        edges_found |= {r.key for u in edges for r in units[u]}
    return suppressed, edges_found


def _apply_follows(model: Model, suppressed: set[tuple]) -> set[tuple]:
    """`suppressed` plus every cell that follows a suppressed one (a median's gap follows the median: to a fixpoint)."""
    out = set(suppressed)
    changed = True
    while changed:
        changed = False
        for row in model.rows:
            if row.key not in out and any(k in out for k in follows(row, model)):
                out.add(row.key)
                changed = True
    return out


def _repair(model: Model, findings, suppressed: set[tuple], extra: dict[tuple, set]) -> bool:
    """Protect, for each cell the audit found too narrow, the least wanted published cell of its table whose
    leaves contain its leaves (the total that pins it down). False when there is none left."""
    added = False
    for finding in findings:
        target = model.by_key[finding.key]
        leaves = model.value_vector(target).keys()
        table = (target.indicator, target.time)
        candidates = [
            r
            for r in model.rows
            if (r.indicator, r.time) == table
            and r.linear
            and r.key not in suppressed
            and leaves <= model.value_vector(r).keys()
        ]
        if not candidates:
            candidates = [
                r for r in model.rows if (r.indicator, r.time) == table and r.linear and r.key not in suppressed
            ]
        if not candidates:
            continue
        worst = max(candidates, key=lambda r: preference([r]))
        extra.setdefault(table, set()).add(model.status_key(worst))
        added = True
    return added


# --------------------------------------------------------------------------------------------- entry point
@dataclass
class Controlled:
    frame: pl.DataFrame  # the published long table (PUBLISHED_COLUMNS)
    audit: Audit
    report: dict = field(default_factory=dict)


def control(
    cells: pl.DataFrame, contributions: pl.DataFrame, unpooled: frozenset[tuple[str, int]] = frozenset()
) -> Controlled:
    """Disclosure control of `cells` (module docstring); `unpooled`: the country-years X_BW's payroll cells
    leave out."""
    for column, dtype in (("months_covered", pl.Int64), ("coverage", pl.String)):
        if column not in cells.columns:  # cells made by hand (tests) need not say
            cells = cells.with_columns(pl.lit(None, dtype).alias(column))
    cells = cells.with_columns(rules.rounded(pl.col("obs_value"), pl.col("unit")).alias("_rounded"))
    rounded = {tuple(r[:5]): r[5] for r in cells.select(*KEY, "_rounded").iter_rows()}
    model = Model(rows_from(cells.to_dicts()), populated_parts(contributions), unpooled)
    threshold, dominated = primary_cells(cells, model, contributions)
    primary = {row.key: threshold[row.key] == "C" or row.key in dominated for row in model.rows}

    counts = _counts_layer(model, primary)
    extra: dict[tuple, set] = {}
    for attempt in range(MAX_REPAIRS + 1):
        values, edges = _values_layer(model, counts, primary, rounded, extra)
        suppressed = _apply_follows(model, counts | values | {k for k, p in primary.items() if p})
        published = {k: (None if k in suppressed else v) for k, v in rounded.items()}
        sensitive = (
            {k for k, p in primary.items() if p} | edges | range_edges(model, rounded, suppressed)
        )  # as the gate sees them
        result = audit(model, published, sensitive=sensitive)
        if result.passed or attempt == MAX_REPAIRS or not _repair(model, result.findings, suppressed, extra):
            break
        log.info(
            "disclosure: %d cell(s) narrowed below protection, protecting their totals (pass %d)",
            len(result.findings),
            attempt + 1,
        )

    status = {k: ("C" if k in suppressed else ("U" if threshold[k] == "U" else None)) for k in rounded}
    frame = (
        cells.with_columns(
            pl.Series("obs_status", [status[tuple(r)] for r in cells.select(KEY).iter_rows()], dtype=pl.String)
        )
        .with_columns(  # a provisional year says so before a small count does: months_covered shows both
            pl.when((pl.col("obs_status") != "C").fill_null(True) & (pl.col("months_covered") < FULL_YEAR))
            .then(pl.lit(PROVISIONAL))
            .otherwise(pl.col("obs_status"))
            .alias("obs_status")
        )
        .with_columns(
            pl.when(pl.col("obs_status") == "C").then(None).otherwise(pl.col("_rounded")).alias("obs_value"),
            *[
                pl.when(pl.col("obs_status") == "C").then(None).otherwise(pl.col(c)).alias(c)
                for c in ("n_workers", "n_factories")
            ],
        )
        .select(PUBLISHED_COLUMNS)
        .sort(KEY)
    )
    frame, unpublishable = pooled_gaps(frame, unpooled)
    frame = pl.concat([frame, _not_applicable(frame, model)]).sort(KEY)
    report = _report(model, primary, dominated, edges, suppressed | unpublishable, result)
    return Controlled(frame, result, report)


POOLED_GAPS = ("GPG_MEAN_HOURLY", "GPG_MEDIAN_HOURLY")


def pooled_gaps(
    frame: pl.DataFrame, unpooled: frozenset[tuple[str, int]] = frozenset()
) -> tuple[pl.DataFrame, set[tuple]]:
    """X_BW's raw and median gender pay gaps as the ILO Global Wage Report builds regional gaps: the average of the
    national gaps weighted by the workers each rests on. A raw gap over the pooled workers would measure the
    countries' different wage levels and shares of women, not the gap (docs/reading-the-marts.md).

    The average takes the *published* national gaps of the countries X_BW pools, rounded as published: anybody
    can recompute it from the table, so it reveals nothing a published cell does not; its counts are the sums
    of theirs. A pooled gap that control suppressed stays suppressed; one with no published national gap
    becomes confidential too. Returns the frame and the keys newly made confidential."""
    gap = pl.col("indicator").is_in(POOLED_GAPS)
    national = frame.filter(
        gap, pl.col("ref_area") != POOLED, pl.col("obs_value").is_not_null(), pl.col("n_workers") > 0
    ).filter(
        ~pl.struct("ref_area", "time").map_elements(
            lambda r: (r["ref_area"], r["time"]) in unpooled, return_dtype=pl.Boolean
        )
    )
    averages = (
        national.sort("ref_area")
        .group_by("indicator", "sex", "classif1", "time")
        .agg(
            ((pl.col("n_workers") * pl.col("obs_value")).sum() / pl.col("n_workers").sum()).round(1).alias("_value"),
            pl.col("n_workers").sum().alias("_workers"),
            pl.col("n_factories").sum().alias("_factories"),
            (
                pl.lit("employment-weighted average of the national gaps of ")
                + pl.concat_str(
                    pl.col("ref_area"), pl.lit(" ("), pl.col("n_workers").cast(pl.String), pl.lit(" workers)")
                ).str.join(", ")
            ).alias("_coverage"),
        )
    )
    pooled = gap & (pl.col("ref_area") == POOLED) & pl.col("obs_status").ne_missing("C")
    out = frame.join(averages, on=["indicator", "sex", "classif1", "time"], how="left")
    lost = {tuple(r) for r in out.filter(pooled & pl.col("_value").is_null()).select(KEY).iter_rows()}
    out = out.with_columns(
        pl.when(pooled).then(pl.col("_value")).otherwise(pl.col("obs_value")).alias("obs_value"),
        pl.when(pooled & pl.col("_value").is_null())
        .then(pl.lit("C"))
        .otherwise(pl.col("obs_status"))
        .alias("obs_status"),
        pl.when(pooled).then(pl.col("_workers")).otherwise(pl.col("n_workers")).alias("n_workers"),
        pl.when(pooled).then(pl.col("_factories")).otherwise(pl.col("n_factories")).alias("n_factories"),
        pl.when(pooled & pl.col("_coverage").is_not_null())
        .then(pl.col("_coverage"))
        .otherwise(pl.col("coverage"))
        .alias("coverage"),
    )
    return out.select(frame.columns).sort(KEY), lost


NOT_APPLICABLE = "M"  # SDMX CL_OBS_STATUS "missing value; data cannot exist": a sex without anybody in it


def _not_applicable(frame: pl.DataFrame, model: Model) -> pl.DataFrame:
    """The cells of a sex that has nobody in a country-year (a first small delivery of women only, say): published
    as not applicable, with no value and zero counts, whatever the status of the other sex's cells (suppressed or
    not), so the table stays complete by sex and nothing blocks. A sex has nobody when the family has no cell of it
    in the country and year before control (Model.sexes; the attacker's model leaves its leaves out too)."""
    by_cell = [c for c in KEY if c != "sex"]
    absent = []
    for row in model.rows:
        if row.pooled or row.sex != "SEX_T":
            continue
        present = model.sexes.get((row.family, row.ref_area, row.time))
        if present and len(present) == 1:
            (only,) = present
            if (row.ref_area, row.indicator, f"SEX_{only}", row.classif1, row.time) in model.by_key:
                absent.append((*row.key[:2], row.key[3], row.key[4], "SEX_M" if only == "F" else "SEX_F"))
    if not absent:
        return frame.clear()
    wanted = pl.DataFrame(absent, schema=[*by_cell, "sex"], orient="row").cast({"time": frame.schema["time"]})
    totals = frame.filter(pl.col("sex") == "SEX_T").drop("sex")
    return (
        wanted.join(totals, on=by_cell, how="inner")
        .select(
            *KEY,
            pl.lit(None, pl.Float64).alias("obs_value"),
            pl.lit(NOT_APPLICABLE).alias("obs_status"),
            "unit",
            pl.lit(0, pl.Int64).alias("n_workers"),
            pl.lit(0, pl.Int64).alias("n_factories"),
            "months_covered",
            "coverage",
        )
        .cast(frame.schema)
    )


def _report(model: Model, primary: dict, dominated: set, edges: set, suppressed: set, result: Audit) -> dict:
    """The information the suppression costs, and the audit's verdict (no cell is named)."""
    rows = model.rows
    worker_rows = [r for r in rows if r.n_workers is not None and r.basis != "gap"]
    hidden = sum(r.n_workers for r in worker_rows if r.key in suppressed)
    total = sum(r.n_workers for r in worker_rows)
    primary_keys = {k for k, p in primary.items() if p}
    return {
        "cells": len(rows),
        "suppressed": len(suppressed),
        "primary": len(primary_keys),
        "primary_by_threshold": len(primary_keys - dominated),
        "primary_by_dominance": len(dominated),
        "range_edges": len(edges),
        "secondary": len(suppressed - primary_keys - edges),
        "suppressed_pooled": sum(1 for r in rows if r.pooled and r.key in suppressed),
        "pooled": sum(1 for r in rows if r.pooled),
        "suppressed_country_totals": sum(
            1
            for r in rows
            if not r.pooled and r.sex == "SEX_T" and r.classif1 in ("_Z", *CURRENCIES) and r.key in suppressed
        ),
        # n_workers of the suppressed cells over n_workers of all worker-based cells (every indicator and breakdown)
        "workers_in_suppressed_cells_pct": round(100 * hidden / total, 2) if total else 0.0,
        "audit": {
            "suppressed_cells_audited": result.audited,
            "narrowed_below_protection": len(result.findings),
            "unsolved": len(result.unsolved),
            "passed": result.passed,
            "protection": (
                f"+/- {rules.PROTECTION:.0%} of the value, at least {rules.PROTECTION_FLOOR_UNITS} rounding units"
            ),
        },
    }


__all__ = ["POOLED", "Controlled", "control", "follows"]
