"""s1's three metrics of a test-time scaling method, over its evaluation runs (sweep points).

    m = s1_metrics([Point(budget_lo=0, budget_hi=64, thinking=51.2, accuracy=0.30), ...])
    m.control, m.scaling, m.performance

For runs a in A, each with the compute it used (mean thinking tokens) and its accuracy f(a)
(Muennighoff et al., 2025, section 3.2):

- Control = |{a : a_min <= a <= a_max}| / |A|: the share of runs whose thinking stayed within the
  budget they were given (a_min, a_max of that run; unset bounds are open).
- Scaling = 1 / C(|A|, 2) * sum over pairs b > a of (f(b) - f(a)) / (b - a): s1's equation, the
  sum over the pairs whose compute differs, divided by the number of all pairs (a pair of runs with
  equal compute adds nothing to the sum but counts in the denominator, as in s1). f is a fraction
  and compute is in tokens; reports show it x100 (accuracy points per thinking token), the "x100" of
  s1's tables.
- Performance = max_a f(a).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb


@dataclass(frozen=True)
class Point:
    """One evaluation run: the budget it was given and what it did."""

    thinking: float  # mean thinking tokens per sample
    accuracy: float  # in [0, 1]
    budget_lo: float | None = None
    budget_hi: float | None = None


@dataclass(frozen=True)
class S1Metrics:
    control: float
    scaling: float | None  # None with fewer than two runs
    performance: float


def control(points: list[Point]) -> float:
    """Share of runs whose mean thinking stayed inside their own [lo, hi]."""
    if not points:
        raise ValueError("control of no runs")
    inside = sum(
        (p.budget_lo is None or p.thinking >= p.budget_lo)
        and (p.budget_hi is None or p.thinking <= p.budget_hi)
        for p in points
    )
    return inside / len(points)


def scaling(points: list[Point]) -> float | None:
    """s1's Scaling: the slopes of the pairs b > a summed, over the number of all pairs C(|A|, 2).
    None for fewer than two runs (no pair)."""
    if len(points) < 2:
        return None
    total = sum(
        (b.accuracy - a.accuracy) / (b.thinking - a.thinking)
        for a, b in combinations(sorted(points, key=lambda p: p.thinking), 2)
        if b.thinking != a.thinking
    )
    return total / comb(len(points), 2)


def s1_metrics(points: list[Point]) -> S1Metrics:
    return S1Metrics(control(points), scaling(points), max(p.accuracy for p in points))
