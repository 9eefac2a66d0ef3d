"""The linked tables: which inner cells every published cell adds up.

An inner cell (a leaf) is (family, year, country, sex, part): part is an occupation for payroll, a group of
years in the programme for the gaps by it, '' where there is no breakdown. A published cell covers a set of
leaves: X_BW all the countries that have the cell, SEX_T both sexes, `_Z` and the currency types every part.
Two kinds of vectors over the leaves describe what a published cell reveals:

- its count (layer 1): the workers (respondents, members, factories) the cell rests on. Every indicator of a
  family of cells that count the same people (FAMILY) reveals the same counts, so one suppression pattern of
  counts serves them all: a share of women reveals the count of women, a gap the count of both sexes;
- its value (layer 2, per indicator): the numerator it publishes. A country's currency variants are one value
  (a public rate converts them); the pooled X_BW cell in USD and in PPP dollars are two different sums
  (each country weighted by its own rate), so both are kept as vectors of their own.

Cells that are no linear sum (medians, gaps of means, the PICC parity ratio) follow the cells they are
computed from (FOLLOWS in assets/disclosure/control.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from schemas.codes import compliance_point_clusters, indicator_disclosure

POOLED = "X_BW"
KEY = ("ref_area", "indicator", "sex", "classif1", "time")
CURRENCIES = ("CUR_TYPE_LCU", "CUR_TYPE_USD", "CUR_TYPE_PPP")
ANY = "*"

# the family of people each indicator's cells count, what its numerator is, what it follows and its links: declared
# once, in the catalogue seed (dbt_project/seeds/ref_indicators.csv, read by schemas/codes.py)
DISCLOSURE = indicator_disclosure()
FAMILY = {code: d.family for code, d in DISCLOSURE.items()}
YEARS_IN_PROGRAMME = "payroll_years"  # the family of the gaps by years in the programme (classif1 YIP_*)
SEXLESS = {"payroll_strata", "picc_active", "assessments"}
# families whose units an outsider can count without us: the factories assessed in a country and year (the
# transparency pages list them), the register's active factories. The audit takes every country's denominator
# of these as known, published or not.
PUBLIC_DENOMINATORS = {"assessments", "picc_active"}
# the families whose pooled cells leave out the country-years with fewer payroll months (int_coverage)
PAYROLL_FAMILIES = {"payroll", "payroll_strata", YEARS_IN_PROGRAMME}
# a share of women reveals the count of women (the parity ratio follows the share of women of worker representatives
# and reveals its counts)
SHARES_OF_WOMEN = {code for code, d in DISCLOSURE.items() if d.numerator == "women"} | {
    code for code, d in DISCLOSURE.items() if d.numerator == "ratio" and DISCLOSURE[d.follows].numerator == "women"
}
# indicators whose numerator counts units: with their denominators, whole numbers an outsider knows to be so
COUNTED = {code for code, d in DISCLOSURE.items() if d.numerator == "count"}
# `within` links: indicator -> (the indicator of its groups, part -> its group's part). A part's grouping is public
# (the assessment tool's compliance points and their clusters).
_GROUPINGS = {"NC_CP_RT": compliance_point_clusters}
WITHIN = {code: (d.link[1], _GROUPINGS[code]()) for code, d in DISCLOSURE.items() if d.link and d.link[0] == "within"}
# the indicators a `within` link joins into one program, by the name of the group's indicator
WITHIN_GROUP = {code: group for code, (group, _) in WITHIN.items()} | {group: group for group, _ in WITHIN.values()}
SUPERVISORS = frozenset({"SUPERVISOR", "MANAGER"})
# classif1 codes that break a total down into parts that add up to it
PART_PREFIXES = ("OCU_", "YIP_")


def family(indicator: str, classif1: str) -> str:
    if indicator == "GPG_MEAN_HOURLY" and classif1.startswith("YIP_"):
        return YEARS_IN_PROGRAMME
    return FAMILY[indicator]


@dataclass(frozen=True)
class Row:
    ref_area: str
    indicator: str
    sex: str
    classif1: str
    time: int
    unit: str
    basis: str
    n_workers: int | None
    n_factories: int | None
    n_workers_f: int | None
    n_workers_m: int | None
    n_factories_f: int | None
    n_factories_m: int | None
    value: float
    numerator: float | None
    denominator: float | None

    @property
    def key(self) -> tuple:
        return self.ref_area, self.indicator, self.sex, self.classif1, self.time

    @property
    def family(self) -> str:
        return family(self.indicator, self.classif1)

    @property
    def pooled(self) -> bool:
        return self.ref_area == POOLED

    @property
    def linear(self) -> bool:
        """A ratio of two sums over its leaves (published with its numerator and denominator)."""
        return self.numerator is not None and self.denominator is not None


def rows_from(records: Iterable[dict]) -> list[Row]:
    fields = Row.__dataclass_fields__
    return [Row(**{f: (r.get("obs_value") if f == "value" else r.get(f)) for f in fields}) for r in records]


Leaf = tuple[
    str, int, str, str, str
]  # (family, year, country, sex, part): families count different people, years differ
Leaves = frozenset[Leaf]


class Model:
    """The leaves of every row of one publication, and what each row reveals."""

    def __init__(
        self,
        rows: list[Row],
        populated: dict[tuple[str, int], frozenset[str]] | None = None,
        unpooled: frozenset[tuple[str, int]] = frozenset(),
    ):
        """`populated`: (breakdown, year) -> the countries with payroll workers in that part (from the factory
        totals), which a pooled gap by the part averages although some of them have one sex only there.
        `unpooled`: the (country, year)s whose payroll covers fewer months than another country's that year: the
        pooled payroll cells leave them out (int_coverage)."""
        self.rows = rows
        self.by_key = {r.key: r for r in rows}
        self.populated = populated or {}
        self.unpooled = unpooled
        members: dict[tuple, set[str]] = defaultdict(set)
        parts: dict[tuple, set[str]] = defaultdict(set)
        for r in rows:
            if not r.pooled:
                members[(r.indicator, r.sex, r.classif1, r.time)].add(r.ref_area)
            if r.classif1.startswith(PART_PREFIXES) and not r.pooled:
                name = r.classif1 if r.classif1.startswith("YIP_") else r.classif1.removeprefix("OCU_")
                for sex in ("F", "M") if r.sex == "SEX_T" else (r.sex.removeprefix("SEX_"),):
                    for scope in (r.family, r.indicator):
                        parts[(scope, r.ref_area, sex, r.time)].add(name)
        self.members = {k: frozenset(v) for k, v in members.items()}
        # the sexes with cells in a family, per country and year: a sex with none has nobody (a first small delivery
        # of women only), its leaves are empty, and the attacker knows it (its cells are published as not applicable)
        sexes: dict[tuple, set[str]] = defaultdict(set)
        for r in rows:
            if not r.pooled and r.sex in ("SEX_F", "SEX_M"):
                sexes[(r.family, r.ref_area, r.time)].add(r.sex.removeprefix("SEX_"))
        self.sexes = {k: frozenset(v) for k, v in sexes.items()}
        # the parts a country's workers of one sex fall into: every part with workers has a cell, so these add up
        # to the total (an attacker knows the list is complete)
        self.parts = {k: frozenset(v) for k, v in parts.items()}
        self.rates = self._conversion_rates()

    # ------------------------------------------------------------------------------------- leaves
    def countries(self, row: Row, classif1: str | None = None) -> frozenset[str]:
        if not row.pooled:
            return frozenset({row.ref_area})
        classif1 = classif1 or row.classif1
        found = self.members.get((row.indicator, row.sex, classif1, row.time), frozenset())
        if row.basis == "gap" and classif1.startswith(PART_PREFIXES):
            # a pooled gap by a part averages the women and the men of every country with workers in it, also a
            # country whose part has one sex only (no gap of its own)
            found |= self.populated.get((classif1, row.time), frozenset())
            for sex in ("SEX_F", "SEX_M"):
                found |= self.members.get(("EAR_MEAN_HOURLY", sex, classif1, row.time), frozenset())
        if row.family in PAYROLL_FAMILIES:
            found = frozenset(c for c in found if (c, row.time) not in self.unpooled)
        return found

    def leaves(self, row: Row, scope: str, sexes: Iterable[str] | None = None) -> Leaves:
        """The leaves under `row` in the parts of `scope` (a family for counts, an indicator for values)."""
        fam = row.family
        if sexes is None:
            sexes = ("",) if fam in SEXLESS else (("F", "M") if row.sex == "SEX_T" else (row.sex.removeprefix("SEX_"),))
        if row.classif1.startswith("OCU_"):
            chosen = {row.classif1.removeprefix("OCU_")}
        elif row.classif1.startswith("YIP_") or (row.classif1 != "_Z" and row.classif1 not in CURRENCIES):
            chosen = {row.classif1}  # a part, or a category with a table of its own (CLU_*, CP_*)
        else:
            chosen = None
        out = set()
        for c in self.countries(row):
            present = self.sexes.get((fam, c, row.time))
            for s in sexes:
                if present is not None and s and s not in present:
                    continue  # nobody of this sex in the country's family that year
                parts = chosen or self.parts.get((scope, c, s, row.time), frozenset({ANY}))
                if chosen is None and row.indicator == "FEMALE_SHARE_SUPERVISORS" and scope == fam:
                    parts = SUPERVISORS & parts
                out |= {(fam, row.time, c, s, p) for p in parts}
        return frozenset(out)

    def count_vectors(self, row: Row) -> tuple[Leaves, ...]:
        """What the row reveals of the counts of its family (layer 1)."""
        fam = row.family
        if row.indicator in SHARES_OF_WOMEN:  # the count of women and the count of all
            return self.leaves(row, fam, sexes=("F",)), self.leaves(row, fam, sexes=("F", "M"))
        if row.basis == "gap":  # n_workers of a gap counts both sexes of its part
            return (self.leaves(row, fam, sexes=("",) if fam in SEXLESS else ("F", "M")),)
        return (self.leaves(row, fam),)

    def value_vector(self, row: Row) -> dict[Leaf, Fraction]:
        """The row's numerator over the leaves of its own indicator (layer 2), each country's leaves weighted
        by the rate that converts its local currency into the row's currency."""
        sexes = ("F",) if row.indicator in SHARES_OF_WOMEN else None
        leaves = self.leaves(row, row.indicator, sexes=sexes)
        if row.classif1 not in CURRENCIES:
            return dict.fromkeys(leaves, Fraction(1))
        return {leaf: 1 / self.rate(row.indicator, leaf[2], row.time, row.classif1) for leaf in leaves}

    # ------------------------------------------------------------------------------------- currencies
    def _conversion_rates(self) -> dict[tuple, Fraction]:
        """LCU per unit of each currency type, per (indicator, country, year), from the country's own cells:
        the ratio of its numerators in LCU and in the currency (a public rate, exactly so when one rate applies)."""
        rates = {}
        for r in self.rows:
            if r.pooled or r.classif1 not in CURRENCIES or r.sex != "SEX_T" or not r.numerator:
                continue
            lcu = self.by_key.get((r.ref_area, r.indicator, r.sex, "CUR_TYPE_LCU", r.time))
            if lcu is not None and lcu.numerator:
                rates[(r.indicator, r.ref_area, r.time, r.classif1)] = Fraction(lcu.numerator) / Fraction(r.numerator)
        return rates

    def rate(self, indicator: str, country: str, time: int, classif1: str) -> Fraction:
        return self.rates.get((indicator, country, time, classif1), Fraction(1))

    def status_key(self, row: Row) -> tuple:
        """Rows that share one status: a country's currency variants of a money cell are one value."""
        if row.classif1 in CURRENCIES and not row.pooled:
            return row.ref_area, row.indicator, row.sex, "CUR_TYPE_*", row.time
        return row.key


def preference(rows: Iterable[Row]) -> tuple:
    """Sort key of a group of rows for publication, most wanted first: pooled, then totals over sex, then totals
    over parts, then the larger; suppressing the small cells keeps the totals and X_BW published."""
    rows = list(rows)
    size = max((r.n_workers if r.n_workers is not None else r.n_factories or 0) for r in rows)
    return (
        not any(r.pooled for r in rows),
        not any(r.sex == "SEX_T" for r in rows),
        not any(not r.classif1.startswith(PART_PREFIXES) for r in rows),
        -size,
        min(repr(r.key) for r in rows),
    )


def unpooled_country_years(coverage) -> frozenset[tuple[str, int]]:
    """(country, year)s that X_BW's payroll cells leave out, from `int_coverage` (a polars frame)."""
    left_out = coverage.filter((coverage["family"] == "payroll") & (coverage["pooled"] == False))  # noqa: E712 (polars)
    return frozenset((country, int(year)) for country, year in left_out.select("country", "year").iter_rows())


def populated_parts(contributions) -> dict[tuple[str, int], frozenset[str]]:
    """(breakdown, year) -> countries with payroll workers in it, from `int_factory_contributions`."""
    out: dict[tuple[str, int], set[str]] = defaultdict(set)
    for breakdown, year, country in (
        contributions.filter(contributions["population"] == "payroll")
        .select("breakdown", "year", "country")
        .unique()
        .iter_rows()
    ):
        out[(breakdown, int(year))].add(country)
    return {k: frozenset(v) for k, v in out.items()}
