"""Secondary suppression over linked tables by Gaussian elimination.

The method of Statistics Norway's GaussSuppression (Langsrud, "Secondary cell suppression by Gaussian
elimination: an algorithm suitable for handling issues with zeros and singletons", Statistical Journal of
the IAOS 40, 2024; R package GaussSuppression): every published cell is a linear combination of inner
cells (a vector over them); a suppressed cell is safe when its vector is not in the span of the published
cells' vectors, so nothing published adds up to it. Cells are taken in order of preference for publication
(totals and pooled cells first); a cell is published when that keeps every protected cell out of the span,
and suppressed (secondary suppression) otherwise. The span is kept as a fully reduced echelon basis over the
rationals, so the test is exact.

A cell may reveal more than one vector (a share reveals its numerator's and its denominator's counts):
it is a group, published or suppressed whole. A protected cell is safe while at least one of its vectors
stays out of the span.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction

Vector = dict[Hashable, Fraction]


def _axpy(target: Vector, factor: Fraction, source: Vector) -> None:
    """target += factor * source, dropping zeros."""
    for key, value in source.items():
        updated = target.get(key, 0) + factor * value
        if updated:
            target[key] = updated
        else:
            target.pop(key, None)


class Span:
    """A fully reduced echelon basis: each row is 1 at its pivot and 0 at every other row's pivot."""

    def __init__(self) -> None:
        self.rows: dict[Hashable, Vector] = {}

    def reduce(self, vector: Vector) -> Vector:
        """The part of `vector` outside the span (empty when it lies in it)."""
        out = {k: Fraction(v) for k, v in vector.items() if v}
        for pivot, row in self.rows.items():  # rows are 0 at each other's pivots: one pass suffices
            factor = out.get(pivot)
            if factor:
                _axpy(out, -factor, row)
        return out

    def add(self, reduced: Vector) -> Hashable | None:
        """Add an already reduced vector; returns its pivot (None for the zero vector)."""
        if not reduced:
            return None
        pivot = min(reduced, key=repr)
        row = {k: v / reduced[pivot] for k, v in reduced.items()}
        for other in self.rows.values():
            factor = other.get(pivot)
            if factor:
                _axpy(other, -factor, row)
        self.rows[pivot] = row
        return pivot


@dataclass
class Cell:
    """A candidate for publication: its vectors, and whether it is protected (primary)."""

    key: Hashable
    vectors: Sequence[Vector]
    protected: bool = False


def secondary_suppression(cells: Sequence[Cell], order: Sequence[Hashable], suppressed: set[Hashable]) -> set[Hashable]:
    """The cells to suppress: `suppressed` (primary or forced) plus the secondary suppressions that keep every
    protected cell's vectors out of the span of the published ones. `order`: keys in order of preference for
    publication (every key of `cells` not in `suppressed`)."""
    by_key = {c.key: c for c in cells}
    span = Span()
    # each protected cell's vectors, reduced against the span as it grows
    targets = [[dict(v) for v in c.vectors] for c in cells if c.protected]
    out = set(suppressed)
    for key in order:
        if key in out:
            continue
        residue = [r for r in (span.reduce(v) for v in by_key[key].vectors) if r]
        if not residue:
            continue  # already derivable from what is published: publishing it adds nothing
        added = Span()
        for r in residue:
            added.add(added.reduce(r))
        if any(all(not added.reduce(t) for t in target) for target in targets if any(target)):
            out.add(key)  # publishing it would make a protected cell derivable
            continue
        for r in residue:
            pivot = span.add(span.reduce(r))
            if pivot is None:
                continue
            row = span.rows[pivot]
            for target in targets:
                for t in target:
                    factor = t.get(pivot)
                    if factor:
                        _axpy(t, -factor, row)
    return out


def derivable(cells: Sequence[Cell], published: set[Hashable], key: Hashable) -> bool:
    """True when every vector of cell `key` lies in the span of the published cells' vectors (for tests)."""
    span = Span()
    for cell in cells:
        if cell.key in published:
            for v in cell.vectors:
                span.add(span.reduce(v))
    return all(not span.reduce(v) for v in next(c for c in cells if c.key == key).vectors)
