"""Every code the publication uses, with its label and definition: the published `codes` table and the SDMX code
lists are this one table.

It joins the reference lists (dbt_project/seeds/): countries (`ref_countries`), indicators (`ref_indicators`),
compliance clusters and points (`ref_clusters`, `ref_compliance_points`), and `ref_codes` for the rest (the pooled
area, sexes, statuses, units, currencies, occupations, years in the programme). Built from the full lists, never
from the rows of one export, so two exports always carry the same codes.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import polars as pl

from decentwork.settings import SEEDS_DIR

COLUMNS = ["dimension", "code", "label", "definition"]
# dimension (SDMX component) -> column of the long indicators table
DIMENSION_COLUMNS = {
    "REF_AREA": "ref_area",
    "INDICATOR": "indicator",
    "SEX": "sex",
    "CLASSIF1": "classif1",
    "OBS_STATUS": "obs_status",
    "UNIT_MEASURE": "unit",
}


def _seed(name: str, seeds: Path) -> pl.DataFrame:
    return pl.read_csv(seeds / f"{name}.csv", infer_schema=False)


@lru_cache(maxsize=4)
def code_table(seeds: Path = SEEDS_DIR) -> pl.DataFrame:
    """(dimension, code, label, definition), one row per code, sorted."""
    countries = _seed("ref_countries", seeds).select(
        pl.lit("REF_AREA").alias("dimension"),
        pl.col("iso3").alias("code"),
        pl.col("name").alias("label"),
        (
            pl.lit("Better Work country programme: ")
            + pl.col("name")
            + pl.lit(" (ISO 3166-1 alpha-3 ")
            + pl.col("iso3")
            + pl.lit("; local currency ")
            + pl.col("currency")
            + pl.lit(")")
        ).alias("definition"),
    )
    indicators = _seed("ref_indicators", seeds).select(
        pl.lit("INDICATOR").alias("dimension"),
        pl.col("code"),
        pl.col("definition").alias("label"),
        (
            pl.col("formula")
            + pl.lit(". Unit: ")
            + pl.col("unit")
            + pl.when(pl.col("breakdowns").is_not_null())
            .then(pl.lit(". Breakdowns: ") + pl.col("breakdowns"))
            .otherwise(pl.lit(""))
        ).alias("definition"),
    )
    # the clusters list maps every label an export uses onto a code; the first label of a code names it
    clusters = (
        _seed("ref_clusters", seeds)
        .filter(pl.col("cluster_code").is_not_null())
        .unique("cluster_code", keep="first", maintain_order=True)
        .select(
            pl.lit("CLASSIF1").alias("dimension"),
            pl.col("cluster_code").alias("code"),
            (pl.lit("Compliance cluster: ") + pl.col("cluster_label")).alias("label"),
            (pl.lit("Better Work Compliance Assessment Tool cluster '") + pl.col("cluster_label") + pl.lit("'")).alias(
                "definition"
            ),
        )
    )
    points = (
        _seed("ref_compliance_points", seeds)
        .filter(pl.col("cp_code").is_not_null())
        .unique("cp_code", keep="first", maintain_order=True)
        .select(
            pl.lit("CLASSIF1").alias("dimension"),
            pl.col("cp_code").alias("code"),
            (pl.lit("Compliance point: ") + pl.col("cp_label")).alias("label"),
            (
                pl.lit("Better Work Compliance Assessment Tool compliance point '")
                + pl.col("cp_label")
                + pl.lit("' of cluster ")
                + pl.col("cluster_code")
            ).alias("definition"),
        )
    )
    table = pl.concat([_seed("ref_codes", seeds).select(COLUMNS), countries, indicators, clusters, points])
    duplicated = table.filter(pl.struct("dimension", "code").is_duplicated())
    if duplicated.height:
        raise ValueError(f"codes defined twice in the reference lists: {duplicated.select('dimension', 'code').rows()}")
    return table.unique(["dimension", "code"]).sort("dimension", "code")


def codes_of(dimension: str) -> list[str]:
    """The valid codes of one dimension (REF_AREA, INDICATOR, SEX, CLASSIF1, OBS_STATUS, UNIT_MEASURE)."""
    return code_table().filter(pl.col("dimension") == dimension)["code"].to_list()


def unknown_codes(indicators: pl.DataFrame) -> dict[str, list[str]]:
    """Codes of a long indicators table that the code table does not define, by dimension (empty when none)."""
    table = code_table()
    out = {}
    for dimension, column in DIMENSION_COLUMNS.items():
        used = set(indicators[column].drop_nulls().cast(pl.String).unique().to_list())
        missing = sorted(used - set(table.filter(pl.col("dimension") == dimension)["code"].to_list()))
        if missing:
            out[dimension] = missing
    return out


class ValueRange(NamedTuple):
    """One row of ref_value_ranges: the values a cell can take (an empty edge in the seed is infinite here)."""

    unit: str
    indicator_prefix: str
    min_value: float
    max_value: float
    max_a_priori: bool  # the upper edge holds by definition (percentages), not only as a plausibility cap


@lru_cache(maxsize=4)
def value_ranges(seeds: Path = SEEDS_DIR) -> tuple[ValueRange, ...]:
    """dbt_project/seeds/ref_value_ranges.csv: the one definition of value ranges (tests and disclosure control)."""
    rows = _seed("ref_value_ranges", seeds).iter_rows(named=True)
    return tuple(
        ValueRange(
            r["unit"],
            r["indicator_prefix"] or "",
            -math.inf if r["min_value"] is None else float(r["min_value"]),
            math.inf if r["max_value"] is None else float(r["max_value"]),
            r["max_a_priori"] == "true",
        )
        for r in rows
    )


@lru_cache(maxsize=1024)  # disclosure control asks once per cell
def value_range(indicator: str, unit: str) -> ValueRange:
    """The range of `indicator` in `unit`: its unit's row with the longest indicator_prefix the code starts with."""
    matches = [r for r in value_ranges() if r.unit == unit and indicator.startswith(r.indicator_prefix)]
    if not matches:
        raise KeyError(f"no value range for unit {unit!r} (indicator {indicator}) in ref_value_ranges")
    return max(matches, key=lambda r: len(r.indicator_prefix))


# --------------------------------------------------------------------------- what disclosure control needs to know
NUMERATORS = {
    "count": "a count of units (times 100 for a rate): a whole number",
    "amount": "a sum of amounts (money, hours, ratios)",
    "women": "a share of women: the count of women, over the count of all",
    "median": "no sum: a median, which follows the mean of the same cell",
    "gap": "no sum: a gap between the sexes, which follows their cells of the followed indicator",
    "ratio": "no sum: a ratio of two published cells, which follows the followed indicator's cell",
}
LINKS = {
    "within": "a unit counted in this indicator's cell is counted in the linked indicator's cell of its part's "
    "group (a factory non-compliant on a compliance point is non-compliant on the point's cluster)",
    "over_limit": "each unit counted has more of the linked indicator's amount than the country's legal limit (a "
    "worker-month above the overtime limit has more overtime hours than the limit)",
    "under_one": "each unit not counted has at least 1 of the linked indicator's ratio (a worker-month not below "
    "the minimum wage earns at least the minimum)",
}


class Disclosure(NamedTuple):
    """How one indicator's cells are made, as disclosure control sees them (dbt_project/seeds/ref_indicators.csv)."""

    family: str  # the people (or factories) its cells count: every indicator of a family reveals the same counts
    numerator: str  # a key of NUMERATORS
    follows: str | None  # for a cell that is no sum: the indicator it is computed from
    link: tuple[str, str] | None  # (a key of LINKS, the linked indicator)


@lru_cache(maxsize=4)
def indicator_disclosure(seeds: Path = SEEDS_DIR) -> dict[str, Disclosure]:
    """Every indicator's family, numerator, the cell it follows and its link to another indicator, declared once in
    the catalogue seed: a new indicator is a seed row and its SQL, and disclosure control follows."""
    out = {}
    for r in _seed("ref_indicators", seeds).iter_rows(named=True):
        if r["sdc_numerator"] not in NUMERATORS:
            raise ValueError(f"ref_indicators {r['code']}: sdc_numerator must be one of {', '.join(NUMERATORS)}")
        link = None
        if r["sdc_link"]:
            kind, _, target = r["sdc_link"].partition(" ")
            if kind not in LINKS or not target:
                raise ValueError(f"ref_indicators {r['code']}: sdc_link must be '<{'|'.join(LINKS)}> <indicator>'")
            link = (kind, target)
        out[r["code"]] = Disclosure(r["sdc_family"], r["sdc_numerator"], r["sdc_follows"] or None, link)
    for code, d in out.items():
        for other in filter(None, (d.follows, d.link and d.link[1])):
            if other not in out:
                raise ValueError(f"ref_indicators {code}: {other} is no indicator of the catalogue")
        if (d.numerator in ("median", "gap", "ratio")) != bool(d.follows):
            raise ValueError(f"ref_indicators {code}: a cell that is no sum follows one indicator, a sum none")
    return out


@lru_cache(maxsize=4)
def compliance_point_clusters(seeds: Path = SEEDS_DIR) -> dict[str, str]:
    """cp_code -> cluster_code of the assessment tool's compliance points (public: the tool's structure)."""
    return dict(_seed("ref_compliance_points", seeds).select("cp_code", "cluster_code").iter_rows())


@lru_cache(maxsize=4)
def overtime_limits(seeds: Path = SEEDS_DIR) -> dict[str, float]:
    """iso3 -> the legal monthly overtime limit in hours (ref_hour_limits: public law)."""
    return {c: float(v) for c, v in _seed("ref_hour_limits", seeds).select("iso3", "overtime_limit_month").iter_rows()}
