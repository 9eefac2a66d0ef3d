"""The auditor: how narrowly can an attacker pin down each suppressed cell from everything published?

For every indicator and year, the attacker's knowledge is a linear program over the inner cells (leaves,
assets/disclosure/links.py) of that indicator: for each leaf an unknown numerator S and denominator W.
- every published value v is a ratio of sums over its leaves, known to its rounding: lo <= S/W <= hi,
  written linearly as S - hi W <= 0 and lo W - S <= 0 (the pooled cells in USD and PPP dollars weight each
  country's numerator by its public conversion rate);
- the denominator of every cell whose count is published anywhere in the publication is known exactly
  (a conservative attacker: the publication shows workers, the denominators count worker-months);
- what anybody knows beforehand: counts are not negative, a rate lies in [0, 100], a mean is not negative.
For a suppressed cell t the attacker's lowest and highest value of S_t / W_t are two linear-fractional
programs, solved as linear programs by the Charnes-Cooper transformation (x = y / tau, W_t y = 1) with
HiGHS (scipy.optimize.linprog). For every sensitive cell (suppressed by a primary rule) the interval must be
at least `rules.required_width` wide (`audit`).

Non-linear cells (medians, gaps of means, the parity ratio) are not audited here: they are published only
where the cells they are computed from are (assets/disclosure/control.py, FOLLOWS), which the audit covers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from assets.disclosure import rules
from assets.disclosure.links import SHARES_OF_WOMEN, Model, Row

SLACK = 1e-9  # relative widening of published intervals and of the width test, for floating point


@dataclass(frozen=True)
class Finding:
    key: tuple
    low: float
    high: float
    required: float
    value: float

    @property
    def width(self) -> float:
        return self.high - self.low

    def __str__(self) -> str:
        area, indicator, sex, classif1, time = self.key
        return (
            f"{indicator} {area} {sex} {classif1} {time}: an attacker narrows it to [{self.low:.6g}, {self.high:.6g}] "
            f"(width {self.width:.3g}, protection needs {self.required:.3g})"
        )


@dataclass
class Audit:
    audited: int
    findings: list[Finding]  # suppressed cells narrowed below their protection
    unsolved: list[str]  # linear programs that could not be solved (the model contradicts the data: a bug)

    @property
    def passed(self) -> bool:
        return not self.findings and not self.unsolved


def bounds(
    model: Model, published: dict[tuple, float | None], keys: set[tuple] | None = None
) -> dict[tuple, tuple[float, float] | None]:
    """The lowest and highest value an attacker can derive for every suppressed linear cell (or those of
    `keys`); None where the linear program has no solution. `published`: key -> published (rounded) value,
    None for a suppressed cell; keys missing from it count as suppressed."""
    known_counts = _published_count_vectors(model, published)
    tables: dict[tuple, list[Row]] = defaultdict(list)
    for row in model.rows:
        if row.linear:
            tables[(row.indicator, row.time)].append(row)
    out = {}
    for rows in tables.values():
        targets = [r for r in rows if published.get(r.key) is None and (keys is None or r.key in keys)]
        if targets:
            lp = _program(model, rows, published, known_counts)
            out |= {t.key: _extremes(lp, t) for t in targets}
    return out


def audit(model: Model, published: dict[tuple, float | None], sensitive: set[tuple]) -> Audit:
    """Every suppressed sensitive cell's interval (`bounds`) against its protection (`rules.required_width`).

    Sensitive cells are the ones a primary rule suppresses (thresholds, dominance, range edges). Secondary
    suppressions protect them and carry no protection of their own (tau-ARGUS sets protection levels on unsafe
    cells only): a large cell suppressed beside a small one is necessarily pinned close to its total, which
    discloses nobody. Gaussian elimination keeps them from being exactly derivable all the same."""
    result = Audit(0, [], [])
    for key, interval in bounds(model, published, sensitive).items():
        result.audited += 1
        target = model.by_key[key]
        if interval is None:
            result.unsolved.append(f"{key}: the linear program has no solution")
            continue
        true_value = float(target.numerator) / float(target.denominator)
        required = rules.required_width(true_value, target.unit)
        if interval[1] - interval[0] < required * (1 - 1e-6):
            result.findings.append(Finding(key, interval[0], interval[1], required, true_value))
    return result


def _published_count_vectors(model: Model, published: dict[tuple, float | None]) -> set:
    """The count vectors (layer 1) some published row shows."""
    return {v for r in model.rows if published.get(r.key) is not None for v in model.count_vectors(r)}


class _Program:
    """The variables (S and W of each leaf) and the homogeneous constraints of one indicator-year."""

    def __init__(self, model: Model, rows: list[Row]):
        self.model = model
        leaves = sorted({leaf for r in rows for leaf in model.leaves(r, r.indicator)})
        self.index = {leaf: i for i, leaf in enumerate(leaves)}
        self.n = len(leaves)
        # S of a leaf is scaled by its country's magnitude (the total's value in local currency), so that
        # a table mixing dong and dollars keeps coefficients near 1
        scale: dict[str, float] = {}
        for r in rows:
            if r.sex == "SEX_T" and not r.pooled and r.classif1 in ("_Z", "CUR_TYPE_LCU") and r.value:
                scale[r.ref_area] = abs(r.value)
        self.scale = [scale.get(leaf[2], 1.0) for leaf in leaves]
        self.ub: list[dict[int, float]] = []
        self.eq: list[tuple[dict[int, float], float]] = []  # (coefficients, right-hand side times tau)

    def s(self, leaf) -> int:
        return self.index[leaf]

    def w(self, leaf) -> int:
        return self.n + self.index[leaf]

    def numerator(self, row: Row) -> dict[int, float]:
        if row.indicator in SHARES_OF_WOMEN:  # 100 x the count of women
            return {self.w(leaf): 100.0 for leaf in self.model.leaves(row, row.indicator, sexes=("F",))}
        return {
            self.s(leaf): float(coef) * self.scale[self.index[leaf]]
            for leaf, coef in self.model.value_vector(row).items()
        }

    def denominator(self, row: Row, sexes=None) -> dict[int, float]:
        return {self.w(leaf): 1.0 for leaf in self.model.leaves(row, row.indicator, sexes=sexes)}


def _combine(*parts: tuple[float, dict[int, float]]) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for factor, coefficients in parts:
        for i, c in coefficients.items():
            out[i] += factor * c
    top = max((abs(c) for c in out.values()), default=1.0) or 1.0
    return {i: c / top for i, c in out.items() if c}


def _program(model: Model, rows: list[Row], published: dict, known_counts: set) -> _Program:
    """The attacker's constraints for one indicator-year (module docstring)."""
    lp = _Program(model, rows)
    indicator, unit = rows[0].indicator, rows[0].unit
    low, high = rules.value_range(indicator, unit)
    if indicator not in SHARES_OF_WOMEN:  # a-priori range of every leaf: low W <= S <= high W
        for leaf, i in lp.index.items():
            s = {lp.s(leaf): lp.scale[i]}
            if math.isfinite(low):
                lp.ub.append(_combine((low, {lp.w(leaf): 1.0}), (-1.0, s)))
            if math.isfinite(high):
                lp.ub.append(_combine((1.0, s), (-high, {lp.w(leaf): 1.0})))
    for row in rows:
        value = published.get(row.key)
        if value is not None:
            step = rules.rounding_unit(value, row.unit)
            lo, hi = value - step / 2, value + step / 2
            lo, hi = lo - SLACK * abs(lo) - 1e-12, hi + SLACK * abs(hi) + 1e-12
            num, den = lp.numerator(row), lp.denominator(row)
            lp.ub.append(_combine((1.0, num), (-hi, den)))
            lp.ub.append(_combine((lo, den), (-1.0, num)))
        counts = model.count_vectors(row)
        if counts[-1] in known_counts:
            lp.eq.append((lp.denominator(row), float(row.denominator)))
        if row.indicator in SHARES_OF_WOMEN and counts[0] in known_counts:  # the count of women is known too
            lp.eq.append((lp.denominator(row, sexes=("F",)), float(row.numerator) / 100))
    return lp


def _extremes(lp: _Program, target: Row) -> tuple[float, float] | None:
    """min and max of numerator / denominator of `target` (Charnes-Cooper: variables y = tau x, then tau)."""
    size = 2 * lp.n + 1
    tau = size - 1
    rows_ub = lp.ub
    eq_rows = [{**coefficients, tau: -rhs} for coefficients, rhs in lp.eq]
    eq_rows.append(lp.denominator(target))  # = 1
    a_ub = _matrix(rows_ub, size)
    a_eq = _matrix(eq_rows, size)
    b_ub = np.zeros(len(rows_ub)) if rows_ub else None
    b_eq = np.zeros(len(eq_rows))
    b_eq[-1] = 1.0
    bounds = [(None, None)] * lp.n + [(0, None)] * lp.n + [(0, None)]
    objective = np.zeros(size)
    for i, c in lp.numerator(target).items():
        objective[i] = c
    out = []
    for sign in (1.0, -1.0):
        done = linprog(sign * objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if done.status == 3:  # unbounded: the attacker cannot bound it on this side
            out.append(-math.inf * sign)
        elif done.status == 0:
            out.append(sign * done.fun)
        else:
            return None
    return out[0], out[1]


def _matrix(rows: list[dict[int, float]], size: int) -> csr_matrix | None:
    if not rows:
        return None
    data, indices, indptr = [], [], [0]
    for row in rows:
        for i, c in row.items():
            indices.append(i)
            data.append(c)
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(rows), size))
