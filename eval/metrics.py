"""s1's three metrics of a test-time scaling method, over its evaluation runs (sweep points).

    m = s1_metrics([Point(budget_lo=0, budget_hi=64, thinking=51.2, accuracy=0.30), ...])
    m.control, m.scaling, m.performance

For runs a in A, each with the compute it used (mean thinking tokens) and its accuracy f(a)
(Muennighoff et al., 2025, section 3.2):

- Control = |{a : a_min <= a <= a_max}| / |A|: the share of runs whose thinking stayed within the
  budget they were given (a_min, a_max of that run; unset bounds are open).
- Scaling = 1 / C(|A|, 2) * sum over pairs b > a of (f(b) - f(a)) / (b - a): s1's equation, the
  sum over the pairs whose compute differs, divided by the number of all pairs (a pair of runs with
  equal compute adds nothing to the sum but counts in the denominator, as in s1). In the units that
  reproduce s1's Table 3: a and b are log2 of each run's *measured* mean thinking tokens (pairs
  ordered by them) and f is in percent, so Scaling is accuracy points per doubling of thinking — the
  slope of s1's plots, all drawn on a log2 token axis (SCALING_UNIT). With the per-run AIME24 numbers
  of s1's appendix (Tables 12-14 of v3) it gives -23.8, 13.2, 2.9, 6.4 and 25.2 for token-conditional,
  token-conditional + BF, step-conditional, step-conditional + BF and class-conditional control
  (Table 3: -24, 13, 3, 6, 25; tests/test_metrics.py).
- Performance = max_a f(a).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb, log2

from thinkscale.common.errors import ConfigError

SCALING_UNIT = "accuracy points per doubling of thinking tokens"


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
        raise ConfigError("control of no runs")
    inside = sum(
        (p.budget_lo is None or p.thinking >= p.budget_lo)
        and (p.budget_hi is None or p.thinking <= p.budget_hi)
        for p in points
    )
    return inside / len(points)


def scaling(points: list[Point]) -> float | None:
    """s1's Scaling (SCALING_UNIT): the slopes of the pairs b > a on a log2 token axis, accuracy in
    percent, summed over the number of all pairs C(|A|, 2). None for fewer than two runs (no pair).
    A run that thought no tokens at all has no place on a log2 axis: it is counted at one token."""
    if len(points) < 2:
        return None
    total = sum(
        100 * (b.accuracy - a.accuracy) / (log2(max(b.thinking, 1.0)) - log2(max(a.thinking, 1.0)))
        for a, b in combinations(sorted(points, key=lambda p: p.thinking), 2)
        if max(b.thinking, 1.0) != max(a.thinking, 1.0)
    )
    return total / comb(len(points), 2)


def s1_metrics(points: list[Point]) -> S1Metrics:
    return S1Metrics(control(points), scaling(points), max(p.accuracy for p in points))
