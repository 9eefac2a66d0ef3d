"""An outsider who counts (issue 29), written apart from assets/disclosure/ so that it checks it.

The outsider holds the published factory-based tables (non-compliance by cluster and by compliance point) and what
anybody can count: the number of factories assessed in each country and year (the transparency pages list them). A
cell's numerator is a whole number of factories k with 0 <= k <= N. The outsider knows:

- a published cell: 100 k / N rounds to its published value (0.1 point), so k lies in a short integer range;
- a pooled X_BW cell: its k is the sum of the countries' k (X_BW less the published countries gives the rest);
- a factory non-compliant on a compliance point is non-compliant on the point's cluster (k_cp <= k_cluster), and a
  factory non-compliant on a cluster is so on at least one of its points (k_cluster <= sum of k_cp);
- the compliance points' clusters (the assessment tool is public).

It narrows each unknown k by bounds propagation over these integer constraints until nothing moves (a sound
attacker: the truth is never excluded; weaker than an exact integer program, stronger than linear algebra).
A suppressed cell is *derived* when one value is left, *narrowed* when the interval of 100 k / N is narrower than
the protection the rules promise a sensitive cell (+/- 20 % of its value, at least one point).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import polars as pl

POOLED = "X_BW"
FACTORY_TABLES = ("NC_CLUSTER_RT", "NC_CP_RT")


@dataclass
class Finding:
    key: tuple  # (ref_area, indicator, classif1, time)
    low: float
    high: float

    @property
    def exact(self) -> bool:
        return self.low == self.high


def _published_range(value: float, n: int) -> tuple[int, int]:
    """The whole numbers k with 100 k / n rounding to `value` at 0.1 point."""
    low = math.ceil((value - 0.05) * n / 100 - 1e-9)
    high = math.floor((value + 0.05) * n / 100 + 1e-9)
    return max(low, 0), min(high, n)


def attack(
    published: pl.DataFrame, assessed: dict[tuple[str, int], int], clusters: dict[str, str]
) -> dict[tuple, tuple[float, float]]:
    """Every suppressed factory-based cell's interval of values the outsider cannot exclude.

    `published`: the indicators table (ref_area, indicator, sex, classif1, time, obs_value, obs_status);
    `assessed`: (country, year) -> factories assessed; `clusters`: compliance point -> its cluster."""
    rows = published.filter(pl.col("indicator").is_in(FACTORY_TABLES), pl.col("sex") == "SEX_T")
    bounds: dict[tuple, list[int]] = {}
    countries: dict[tuple, list[str]] = defaultdict(list)  # (indicator, classif1, time) -> countries with a cell
    suppressed = []
    for r in rows.iter_rows(named=True):
        key = (r["ref_area"], r["indicator"], r["classif1"], int(r["time"]))
        if r["ref_area"] != POOLED:
            countries[key[1:]].append(r["ref_area"])
    for r in rows.iter_rows(named=True):
        area, indicator, classif1, time = r["ref_area"], r["indicator"], r["classif1"], int(r["time"])
        key = (area, indicator, classif1, time)
        n = _n(assessed, key, countries)
        if r["obs_status"] == "C" or r["obs_value"] is None:
            bounds[key] = [0, n]
            suppressed.append(key)
        else:
            bounds[key] = list(_published_range(r["obs_value"], n))

    pooled_sums = []  # (X_BW key, the countries' keys): X_BW's k is the sum of theirs
    for (indicator, classif1, time), members in countries.items():
        pooled = (POOLED, indicator, classif1, time)
        if pooled in bounds:
            pooled_sums.append((pooled, [(c, indicator, classif1, time) for c in members]))
    groups: dict[tuple, list[tuple]] = defaultdict(list)  # a cluster's key -> its compliance points' keys
    for key in bounds:
        area, indicator, classif1, time = key
        if indicator == "NC_CP_RT" and classif1 in clusters:
            group = (area, "NC_CLUSTER_RT", clusters[classif1], time)
            if group in bounds:
                groups[group].append(key)

    changed = True
    while changed:
        changed = False
        for total, parts in pooled_sums:  # total = sum of parts
            lo_sum = sum(bounds[p][0] for p in parts)
            hi_sum = sum(bounds[p][1] for p in parts)
            changed |= _tighten(bounds[total], lo_sum, hi_sum)
            for p in parts:
                others_lo, others_hi = lo_sum - bounds[p][0], hi_sum - bounds[p][1]
                changed |= _tighten(bounds[p], bounds[total][0] - others_hi, bounds[total][1] - others_lo)
        for group, parts in groups.items():  # every part <= group <= sum of parts
            hi_sum = sum(bounds[p][1] for p in parts)
            changed |= _tighten(bounds[group], max(bounds[p][0] for p in parts), hi_sum)
            for p in parts:
                others_hi = hi_sum - bounds[p][1]
                changed |= _tighten(bounds[p], bounds[group][0] - others_hi, bounds[group][1])

    out = {}
    for key in suppressed:
        n = _n(assessed, key, countries)
        low, high = bounds[key]
        out[key] = (100 * low / n, 100 * high / n)
    return out


def _n(assessed: dict, key: tuple, countries: dict) -> int:
    area, indicator, classif1, time = key
    if area == POOLED:
        return sum(assessed[(c, time)] for c in countries[(indicator, classif1, time)])
    return assessed[(area, time)]


def _tighten(interval: list[int], low: int, high: int) -> bool:
    new = [max(interval[0], low), min(interval[1], high)]
    if new[0] > new[1]:
        raise AssertionError(f"the outsider's constraints contradict each other at {interval} vs [{low}, {high}]")
    if new != interval:
        interval[:] = new
        return True
    return False


def findings(
    published: pl.DataFrame,
    truth: dict[tuple, float],
    sensitive: set[tuple],
    assessed: dict[tuple[str, int], int],
    clusters: dict[str, str],
) -> dict[tuple, str]:
    """What the outsider gets, by cell: suppressed cells derived exactly, sensitive cells narrowed below their
    protection (`truth`: key -> true value; `sensitive`: keys a primary rule suppresses)."""
    out = {}
    for key, (low, high) in attack(published, assessed, clusters).items():
        value = truth[key]
        assert low - 1e-9 <= value <= high + 1e-9, f"the outsider excluded the truth at {key}: a bug in the attacker"
        if high - low < 1e-9:
            out[key] = f"{key}: derived exactly ({low:g})"
        elif key in sensitive and high - low < max(0.4 * abs(value), 1.0) - 1e-9:
            out[key] = f"{key}: narrowed to [{low:.3g}, {high:.3g}]"
    return out
