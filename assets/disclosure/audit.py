"""The auditor: how narrowly can an attacker pin down each suppressed cell from everything published?

For every indicator and year, the attacker's knowledge is a linear program over the inner cells (leaves,
assets/disclosure/links.py) of that indicator: for each leaf an unknown numerator S and denominator W.
- every published value v is a ratio of sums over its leaves, known to its rounding: lo <= S/W <= hi,
  written linearly as S - hi W <= 0 and lo W - S <= 0 (the pooled cells in USD and PPP dollars weight each
  country's numerator by its public conversion rate);
- the denominator of every cell whose count is published anywhere in the publication is known exactly
  (a conservative attacker: the publication shows workers, the denominators count worker-months), and every
  country's denominator of a family whose units anybody can count (links.PUBLIC_DENOMINATORS: the factories
  assessed, listed on the transparency pages; the register's factories), published or not;
- what anybody knows beforehand: counts are not negative, a rate lies in [0, 100], a mean is not negative.
For a suppressed cell t the attacker's lowest and highest value of S_t / W_t are two linear-fractional
programs, solved as linear programs by the Charnes-Cooper transformation (x = y / tau, W_t y = 1) with
HiGHS (scipy.optimize.linprog). For every sensitive cell (suppressed by a primary rule) the interval must be
at least `rules.required_width` wide (`audit`).

Integers (`integer_bounds`). The linear program relaxes counts to real numbers; an outsider knows that a count
of factories, respondents, members or worker-months is a whole number. "0 of 7 factories" is the only integer
point where the relaxation still allows [0, 2.75]. Wherever a table's numerators count units (catalogue seed:
sdc_numerator `count`; a share of women counts women), every suppressed cell the relaxation leaves wide enough is
bounded again by mixed-integer programming (HiGHS through scipy.optimize.milp): the numerator k of each leaf
and its denominator W are integers, 0 <= k <= W, W at most the table's largest total. The ratio 100 k / W is
maximised by Dinkelbach's method (Dinkelbach, Management Science 13(7), 1967): starting from the true value,
maximise N - lambda D, move lambda to the ratio found, until nothing beats it. Every lambda on the way is a value
the attacker cannot exclude, so the search stops as soon as the interval found is wide enough. A sensitive
cell must keep its protection; any other suppressed cell must not be pinned to one value (`exact`).

Non-linear cells (medians, gaps of means, the parity ratio) are not audited here: they are published only
where the cells they are computed from are (assets/disclosure/control.py, FOLLOWS), which the audit covers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_matrix, vstack

from assets.disclosure import rules
from assets.disclosure.links import (
    COUNTED,
    DISCLOSURE,
    PUBLIC_DENOMINATORS,
    SHARES_OF_WOMEN,
    WITHIN,
    WITHIN_GROUP,
    Model,
    Row,
)
from schemas.codes import overtime_limits

SLACK = 1e-9  # relative widening of published intervals and of the width test, for floating point
# the work one mixed-integer program may do: a branch-and-bound node limit, so that the result does not depend on the
# machine's speed; a search cut by it counts as narrowed (protect more). The time limit is a safety net only.
INTEGER_NODE_LIMIT = 5_000
INTEGER_TIME_LIMIT = 120.0
DINKELBACH_STEPS = 60
OVERTIME_LIMITS = overtime_limits()


@dataclass(frozen=True)
class Finding:
    key: tuple
    low: float
    high: float
    required: float
    value: float

    exact: bool = False  # a suppressed cell without protection of its own, pinned to one value
    decided: bool = True  # False: the integer programs hit their work limit (counted as narrowed: protect more)

    @property
    def width(self) -> float:
        return self.high - self.low

    def __str__(self) -> str:
        area, indicator, sex, classif1, time = self.key
        if not self.decided:
            return (
                f"{indicator} {area} {sex} {classif1} {time}: the integer programs could not bound it within their "
                f"work limit (counted as narrowed; found [{self.low:.6g}, {self.high:.6g}] so far)"
            )
        if self.exact:
            return f"{indicator} {area} {sex} {classif1} {time}: an attacker counting in whole units derives it exactly"
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


def integers_count(indicator: str) -> bool:
    """Whether the attacker models this indicator's numerators and denominators as whole numbers."""
    return indicator in COUNTED or indicator in SHARES_OF_WOMEN


def audit(model: Model, published: dict[tuple, float | None], sensitive: set[tuple]) -> Audit:
    """Every suppressed sensitive cell's interval (`bounds`) against its protection (`rules.required_width`), and,
    in the tables of counts, every suppressed cell's interval for an attacker who counts in whole units
    (`integer_bounds`): a sensitive cell keeps its protection, no other cell is pinned to one value.

    Sensitive cells are the ones a primary rule suppresses (thresholds, dominance, range edges). Secondary
    suppressions protect them and carry no protection of their own (tau-ARGUS sets protection levels on unsafe
    cells only): a large cell suppressed beside a small one is necessarily pinned close to its total, which
    discloses nobody. Gaussian elimination keeps them from being exactly derivable by linear algebra, the integer
    programs by counting."""
    result = Audit(0, [], [])
    suppressed = {r.key for r in model.rows if r.linear and published.get(r.key) is None}
    sensitive = {k for k in sensitive if not _one_sex_share(model, k)}
    relaxed = bounds(model, published, sensitive)
    wide_enough: dict[tuple, float] = {}  # cell -> the width it must keep against an integer attacker
    for key, interval in relaxed.items():
        result.audited += 1
        target = model.by_key[key]
        if interval is None:
            result.unsolved.append(f"{key}: the linear program has no solution")
            continue
        interval = _linked(model, published, target, interval)
        true_value = _true_value(target)
        required = rules.required_width(true_value, target.unit)
        if interval[1] - interval[0] < required * (1 - 1e-6):
            result.findings.append(Finding(key, interval[0], interval[1], required, true_value))
        elif integers_count(target.indicator):
            wide_enough[key] = required * (1 - 1e-6)
    for key in suppressed - set(relaxed):
        # the exactness of a suppressed share of women is not checked: its counts are those of the cells by sex of
        # its family, whose published counts may give it (a pointless suppression, no disclosure)
        if key[1] in COUNTED:
            result.audited += 1
            wide_enough[key] = _exactness(_true_value(model.by_key[key]))
    for key, bound in integer_bounds(model, published, wide_enough).items():
        target = model.by_key[key]
        if bound is None:
            result.unsolved.append(f"{key}: the integer program has no solution")
            continue
        interval = _linked(model, published, target, (bound.low, bound.high))
        if interval[1] - interval[0] < wide_enough[key] or not bound.decided:
            exact = key not in sensitive and bound.decided
            required = 0.0 if key not in sensitive else rules.required_width(_true_value(target), target.unit)
            result.findings.append(
                Finding(key, interval[0], interval[1], required, _true_value(target), exact, bound.decided)
            )
    return result


def _linked(model: Model, published: dict, target: Row, interval: tuple[float, float]) -> tuple[float, float]:
    """`interval` narrowed by what the cell of the same key of a linked indicator tells (catalogue seed, sdc_link):
    - over_limit (HOW_OT_EXCESS_RT, HOW_OT_MEAN): every worker-month counted works more overtime than the legal limit
      L, so the share above it is below 100 x mean / L, and the mean above L x share / 100 (L: the lowest limit of
      the cell's countries);
    - under_one (MINW_BELOW_RT, EAR_TO_MINW_RATIO): every worker-month not below the minimum earns at least the
      minimum, so the share below is above 100 x (1 - ratio), and the ratio above 1 - share / 100.
    Each bound is taken only where the true values satisfy it (as the links of `_within_links`)."""
    low, high = interval
    true = _true_value(target)
    for code, declared in DISCLOSURE.items():
        if not declared.link or declared.link[0] not in ("over_limit", "under_one"):
            continue
        kind, other = declared.link
        if target.indicator not in (code, other):
            continue
        linked = other if target.indicator == code else code
        value = published.get((target.ref_area, linked, target.sex, target.classif1, target.time))
        if value is None:
            continue
        half = rules.rounding_unit(value, model.by_key[(target.ref_area, linked, *target.key[2:])].unit) / 2
        if kind == "over_limit":
            limit = min(OVERTIME_LIMITS.get(c, math.inf) for c in model.countries(target))
            if not math.isfinite(limit):
                continue
            bound = 100 * (value + half) / limit if target.indicator == code else limit * (value - half) / 100
        else:
            bound = 100 * (1 - (value + half)) if target.indicator == code else 1 - (value + half) / 100
        if target.indicator == code and kind == "over_limit":
            if true <= bound:
                high = min(high, bound)
        elif true >= bound:
            low = max(low, bound)
    return low, high


def _one_sex_share(model: Model, key: tuple) -> bool:
    """A share of women in a country-year with one sex only: 0 or 100 % by the other sex's `M` status, which is
    published (a sex with nobody is not applicable), so there is nothing left to protect."""
    row = model.by_key[key]
    if row.indicator not in SHARES_OF_WOMEN or row.pooled:
        return False
    return len(model.sexes.get((row.family, row.ref_area, row.time), "FM")) == 1


def _true_value(row: Row) -> float:
    return float(row.numerator) / float(row.denominator)


def _exactness(value: float) -> float:
    """The width below which an interval is one value (floating point)."""
    return 1e-7 * max(1.0, abs(value))


@dataclass(frozen=True)
class IntegerBound:
    """What the integer programs found for one cell: values the attacker cannot exclude (`low`, `high`), and whether
    the search ended (`decided`: the extremes were proven, or the interval is as wide as wanted). A search cut by
    the work limit (INTEGER_NODE_LIMIT) is undecided: the audit counts it as narrowed, and the repair protects more."""

    low: float
    high: float
    decided: bool = True


def integer_bounds(
    model: Model, published: dict[tuple, float | None], wanted: dict[tuple, float]
) -> dict[tuple, IntegerBound | None]:
    """For each suppressed cell of `wanted` (key -> the width it must keep), an interval of values an attacker who
    counts in whole units cannot exclude: the exact extremes, or a part of them at least as wide as wanted (the
    search stops there). None where the program has no solution at all (the model contradicts the data: a bug).

    Every integer point a program finds is a complete assignment of the table's counts, so it shows a value for
    every cell of the table: each widens every target's interval, and a target already wide enough needs no
    program of its own."""
    known_counts = _published_count_vectors(model, published)
    tables: dict[tuple, list[Row]] = defaultdict(list)
    for row in model.rows:  # one program per year for the indicators a `within` link joins (links.WITHIN)
        if row.linear and integers_count(row.indicator):
            tables[(WITHIN_GROUP.get(row.indicator, row.indicator), row.time)].append(row)
    out = {}
    for rows in tables.values():
        targets = [r for r in rows if r.key in wanted]
        if not targets:
            continue
        lp = _program(model, rows, published, known_counts, scaled=False)
        lp.ub += _within_links(model, rows, lp)
        program = _IntegerProgram(lp, max(float(r.denominator) for r in rows), targets)
        for target in targets:
            out[target.key] = program.extremes(target, wanted[target.key])
    return out


def _within_links(model: Model, rows: list[Row], lp: _Program) -> list[dict[int, float]]:
    """A country's units counted in a part are counted in its group (k_part <= k_group: a factory non-compliant on a
    compliance point is non-compliant on its cluster), and a unit counted in a group in one of its parts
    (k_group <= sum of k_part). Each only where the true counts satisfy it: an attacker's belief that does not
    hold must not make the program infeasible."""
    out = []
    by_key = {r.key: r for r in rows}
    for indicator, (group_indicator, group_of) in WITHIN.items():
        members: dict[tuple, list[Row]] = defaultdict(list)
        for r in rows:
            if r.indicator == indicator and not r.pooled and r.classif1 in group_of:
                group = by_key.get((r.ref_area, group_indicator, r.sex, group_of[r.classif1], r.time))
                if group is not None:
                    members[group.key].append(r)
        for group_key, parts in members.items():
            group = by_key[group_key]
            (group_leaf,) = model.leaves(group, group.indicator)
            for part in parts:
                (part_leaf,) = model.leaves(part, part.indicator)
                if part.numerator <= group.numerator:
                    out.append({lp.s(part_leaf): 1.0, lp.s(group_leaf): -1.0})
            if group.numerator <= sum(p.numerator for p in parts):
                out.append(
                    {lp.s(group_leaf): 1.0, **{lp.s(next(iter(model.leaves(p, p.indicator)))): -1.0 for p in parts}}
                )
    return out


class _IntegerProgram:
    """One table's constraints over whole numbers: per leaf k (units counted in the numerator: S / 100 for a
    rate; unused for a share of women, whose numerator is the women's W) and W (units in the denominator)."""

    def __init__(self, lp: _Program, largest: float, targets: list[Row]):
        self.lp = lp
        self.size = 2 * lp.n
        # columns of S become columns of k = S / 100 (S in the value's unit: a rate's numerator is 100 per unit)
        self.to_k = np.ones(self.size)
        self.to_k[: lp.n] = 100.0
        constraints = []
        if lp.ub:
            constraints.append(LinearConstraint(self._matrix(lp.ub), -np.inf, 0.0))
        if lp.eq:
            rhs = np.array([r for _, r in lp.eq])
            constraints.append(LinearConstraint(self._matrix([c for c, _ in lp.eq]), rhs, rhs))
        self.constraints = constraints
        self.bounds = Bounds(np.zeros(self.size), np.full(self.size, math.floor(largest)))
        # every target's numerator and denominator, and the values the points found so far show for it
        self.vectors = {t.key: (self._vector(lp.numerator(t)), self._vector(lp.denominator(t))) for t in targets}
        self.seen = {t.key: [_true_value(t), _true_value(t)] for t in targets}

    def _matrix(self, rows: list[dict[int, float]]) -> csr_matrix:
        return _matrix([{i: c * self.to_k[i] for i, c in row.items()} for row in rows], self.size)

    def _vector(self, coefficients: dict[int, float]) -> np.ndarray:
        out = np.zeros(self.size)
        for i, c in coefficients.items():
            out[i] = c * self.to_k[i]
        return out

    def _saw(self, x: np.ndarray) -> None:
        """A feasible integer point: the value it shows for every target widens that target's interval."""
        for key, (numerator, denominator) in self.vectors.items():
            units = float(denominator @ x)
            if units >= 0.5:
                ratio = float(numerator @ x) / units
                seen = self.seen[key]
                seen[0], seen[1] = min(seen[0], ratio), max(seen[1], ratio)

    def extremes(self, target: Row, wanted: float) -> IntegerBound | None:
        numerator, denominator = self.vectors[target.key]
        positive = LinearConstraint(denominator.reshape(1, -1), 1.0, np.inf)  # the cell has units
        constraints = [*self.constraints, positive]
        seen = self.seen[target.key]
        sides = {1.0: False, -1.0: False}  # side (1: upwards) -> its extreme is proven
        for _ in range(DINKELBACH_STEPS):
            if seen[1] - seen[0] >= wanted or all(sides.values()):
                return IntegerBound(seen[0], seen[1])
            for sign, proven in sides.items():
                if proven:
                    continue
                lam = seen[1] if sign > 0 else seen[0]
                # maximise sign * (N - lam D): a solution above 0 has a ratio beyond lam on this side
                done = milp(
                    -sign * (numerator - lam * denominator),
                    constraints=constraints,
                    integrality=np.ones(self.size),
                    bounds=self.bounds,
                    options={"node_limit": INTEGER_NODE_LIMIT, "time_limit": INTEGER_TIME_LIMIT},
                )
                if done.x is None:
                    if done.status == 1:  # the work limit, no point found: undecided
                        return IntegerBound(seen[0], seen[1], decided=False)
                    return None  # no integer point at all, not even the truth: the model contradicts the data
                self._saw(done.x)
                gain = -done.fun
                ratio = float(numerator @ done.x) / float(denominator @ done.x)
                stalled = sign * (ratio - lam) <= 1e-9 * max(1.0, abs(lam))
                if gain <= 1e-9 * max(1.0, abs(lam)) * max(1.0, float(denominator @ done.x)) or stalled:
                    if done.status != 0:  # stopped by the work limit without proving nothing beats lam
                        return IntegerBound(seen[0], seen[1], decided=False)
                    sides[sign] = True
        return IntegerBound(seen[0], seen[1], decided=False)  # Dinkelbach's steps did not converge: undecided


def _published_count_vectors(model: Model, published: dict[tuple, float | None]) -> set:
    """The count vectors (layer 1) some published row shows."""
    return {v for r in model.rows if published.get(r.key) is not None for v in model.count_vectors(r)}


class _Program:
    """The variables (S and W of each leaf) and the homogeneous constraints of one indicator-year."""

    def __init__(self, model: Model, rows: list[Row], scaled: bool = True):
        self.model = model
        leaves = sorted({leaf for r in rows for leaf in model.leaves(r, r.indicator)})
        self.index = {leaf: i for i, leaf in enumerate(leaves)}
        self.n = len(leaves)
        # S of a leaf is scaled by its country's magnitude (the total's value in local currency), so that
        # a table mixing dong and dollars keeps coefficients near 1
        scale: dict[str, float] = {}
        for r in rows:
            if scaled and r.sex == "SEX_T" and not r.pooled and r.classif1 in ("_Z", "CUR_TYPE_LCU") and r.value:
                scale[r.ref_area] = abs(r.value)
        self.scale = [scale.get(leaf[2], 1.0) for leaf in leaves]
        self.ub: list[dict[int, float]] = []
        self.eq: list[tuple[dict[int, float], float]] = []  # (coefficients, right-hand side times tau)
        self.matrices: tuple | None = None  # the linear programs' constraint matrices, once built

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


def _program(model: Model, rows: list[Row], published: dict, known_counts: set, scaled: bool = True) -> _Program:
    """The attacker's constraints for one indicator-year (module docstring); `scaled`: S of each leaf in units of
    its country's magnitude (for the linear programs' conditioning), else in the value's own unit."""
    lp = _Program(model, rows, scaled)
    ranges = {
        leaf: rules.value_range(r.indicator, r.unit)
        for r in rows
        if r.indicator not in SHARES_OF_WOMEN
        for leaf in model.leaves(r, r.indicator)
    }
    for leaf, (low, high) in ranges.items():  # a-priori range of every leaf: low W <= S <= high W
        i = lp.index[leaf]
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
        if counts[-1] in known_counts or (row.family in PUBLIC_DENOMINATORS and not row.pooled):
            lp.eq.append((lp.denominator(row), float(row.denominator)))
        if row.indicator in SHARES_OF_WOMEN and counts[0] in known_counts:  # the count of women is known too
            lp.eq.append((lp.denominator(row, sexes=("F",)), float(row.numerator) / 100))
    return lp


def _extremes(lp: _Program, target: Row) -> tuple[float, float] | None:
    """min and max of numerator / denominator of `target` (Charnes-Cooper: variables y = tau x, then tau)."""
    size = 2 * lp.n + 1
    tau = size - 1
    if lp.matrices is None:  # the same for every target of the table: built once
        eq_rows = [{**coefficients, tau: -rhs} for coefficients, rhs in lp.eq]
        lp.matrices = (_matrix(lp.ub, size), _matrix(eq_rows, size))
    a_ub, a_eq_common = lp.matrices
    a_eq = _matrix([lp.denominator(target)], size)  # = 1
    if a_eq_common is not None:
        a_eq = vstack([a_eq_common, a_eq], format="csr")
    b_ub = np.zeros(len(lp.ub)) if lp.ub else None
    b_eq = np.zeros(a_eq.shape[0])
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
