"""s1's three metrics of a test-time scaling method, over its evaluation runs (sweep points).

    m = s1_metrics([Point(budget_lo=0, budget_hi=64, thinking=51.2, accuracy=0.30), ...])
    m.control, m.scaling, m.performance

For runs a in A, each with the compute it used (mean thinking tokens) and its accuracy f(a)
(Muennighoff et al., 2025, section 3.2):

- Control = |{a : a_min <= a <= a_max}| / |A|: the share of runs whose thinking stayed within the
  budget they were given (a_min, a_max of that run; unset bounds are open).
- Scaling = mean over pairs b > a of (f(b) - f(a)) / (b - a): the average slope of accuracy over
  thinking tokens (s1's tables show it x100). Pairs are ordered by compute; ties are skipped.
- Performance = max_a f(a).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations


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
    scaling: float | None  # None with fewer than two distinct compute values
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
    """Mean slope of accuracy over thinking tokens across all pairs of runs with different compute."""
    slopes = [
        (b.accuracy - a.accuracy) / (b.thinking - a.thinking)
        for a, b in combinations(sorted(points, key=lambda p: p.thinking), 2)
        if b.thinking != a.thinking
    ]
    return sum(slopes) / len(slopes) if slopes else None


def s1_metrics(points: list[Point]) -> S1Metrics:
    return S1Metrics(control(points), scaling(points), max(p.accuracy for p in points))
