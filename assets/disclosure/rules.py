"""The rules of disclosure control and their parameters: one place (docs/disclosure.md explains them).

- Threshold rule (primary): a worker-based cell resting on fewer than MIN_WORKERS workers (respondents,
  members) or fewer than MIN_FACTORIES factories is confidential; a factory-based cell with fewer than
  MIN_FACTORIES factories too. A published cell with fewer than UNRELIABLE_WORKERS workers is flagged U.
- Dominance rule (primary): the p% rule on factory totals (Hundepool et al., Statistical Disclosure Control,
  Wiley 2012, section 4.2.2): a cell is sensitive when the factories other than the two largest contribute
  less than P_PERCENT % of the largest, i.e. the second-largest factory could estimate the largest one's
  figure to within p %. A factory's total is its number of workers (respondents, members) in the cell.
- Range edges (primary, per indicator): a published total whose rounded value sits at the edge of its
  range (0 or 100 %, a mean of 0) while one of its parts is suppressed gives the parts away (they all
  equal it): the total is sensitive too.
- Rounding: published values carry a stated precision, so exact doubles do not reveal their denominators.
- Protection: no suppressed cell may be narrowed by an attacker, by linear programming over everything
  published, to an interval narrower than 2 x PROTECTION x |value| (sliding protection, as tau-ARGUS
  calls it), nor narrower than PROTECTION_FLOOR_UNITS rounding units (values near zero).
"""

from __future__ import annotations

import math

import polars as pl

from schemas import codes

MIN_WORKERS = 10
MIN_FACTORIES = 3
UNRELIABLE_WORKERS = 30
P_PERCENT = 10.0
PROTECTION = 0.20
PROTECTION_FLOOR_UNITS = 10

MONEY_UNITS = ("LCU", "USD", "PPP_USD")
SIGNIFICANT_FIGURES = 4  # money
DECIMALS = {"PCT": 1, "HOURS": 1, "RATIO": 2}


def rounded(value: pl.Expr, unit: pl.Expr) -> pl.Expr:
    """Published precision: money to SIGNIFICANT_FIGURES significant figures, the rest to DECIMALS."""
    out = pl.when(unit.is_in(MONEY_UNITS)).then(value.round_sig_figs(SIGNIFICANT_FIGURES))
    for name, decimals in DECIMALS.items():
        out = out.when(unit == name).then(value.round(decimals))
    return out.otherwise(None)


def rounding_unit(value: float, unit: str) -> float:
    """The step of the published precision at `value` (for money, of the larger decade when a value sits at
    one: 9999.6 rounds to 10000, whose step 10 covers both)."""
    if unit in MONEY_UNITS:
        magnitude = abs(value)
        return 0.0 if magnitude == 0 else 10.0 ** (math.floor(math.log10(magnitude) + 1e-12) - SIGNIFICANT_FIGURES + 1)
    return 10.0 ** -DECIMALS[unit]


def required_width(true_value: float, unit: str) -> float:
    """The narrowest interval an attacker may be left with for a suppressed cell."""
    return max(2 * PROTECTION * abs(true_value), PROTECTION_FLOOR_UNITS * rounding_unit(true_value, unit))


def value_range(indicator: str, unit: str) -> tuple[float, float]:
    """What a value can be before anything is published (an attacker's a-priori bounds): its range in
    dbt_project/seeds/ref_value_ranges.csv, open above where the upper edge is only a plausibility cap."""
    found = codes.value_range(indicator, unit)
    return found.min_value, found.max_value if found.max_a_priori else math.inf


def threshold_status(n_workers: pl.Expr, n_factories: pl.Expr) -> pl.Expr:
    """'C' below the thresholds, 'U' for few workers, '' otherwise (n_workers null: a factory-based cell)."""
    return (
        pl.when(n_factories < MIN_FACTORIES)
        .then(pl.lit("C"))
        .when(n_workers.is_not_null() & (n_workers < MIN_WORKERS))
        .then(pl.lit("C"))
        .when(n_workers.is_not_null() & (n_workers < UNRELIABLE_WORKERS))
        .then(pl.lit("U"))
        .otherwise(pl.lit(""))
    )


def dominated(top1: int, top2: int, total: int) -> bool:
    """The p% rule on factory totals (module docstring)."""
    return top1 > 0 and (total - top1 - top2) < P_PERCENT / 100 * top1
