"""95% intervals for every number the studies report.

    wilson(7, 30)                                  # (lo, hi) of an accuracy from 7 right out of 30
    per_question_mean(rows)                        # pass@1 over N samples: {question: mean correct}
    bootstrap(by_q, statistic)                     # (lo, hi): percentile bootstrap over questions
    paired_gain(a_by_q, b_by_q)                    # (gain, lo, hi) of b - a on the same questions
    percent(0.125, (0.043, 0.31))                  # "12.5 [4.3, 31.0]": how every report prints one

- An accuracy from one sample per question is a binomial share: the Wilson score interval (it stays
  inside [0, 1] and is sound at 30 questions, where the normal approximation is not).
- pass@1 averaged over k samples per question (`--samples-per-question`, as open-r1 reports AIME
  with k = 16) is a mean of per-question means; its standard error is clustered by question (the
  spread of the per-question means over the questions, `clustered_se`). Its interval: Wilson over
  the n questions where n < 300 (AIME's 30, GPQA's 198: the normal approximation is not sound
  there), else the mean ± 1.96 clustered standard errors.
- Statistics built from several runs on the same questions (s1's Scaling, a compute-optimal gain over
  best-of-N) resample questions jointly across the runs, so the runs' correlation is kept: a paired
  percentile bootstrap with a fixed seed (the same data always give the same interval): 10,000
  resamples in the s1 study (as s1's Table 2), 2,000 elsewhere. Comparisons of two methods or budgets
  are paired the same way (`paired_gain`: per-question differences, resampled).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from thinkscale.common.errors import ConfigError

Z95 = 1.959963984540054
RESAMPLES = 2000
S1_RESAMPLES = 10_000  # the s1 study's paired comparisons, as s1's Table 2
SEED = 0


def wilson(right: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of the share right / n (n >= 1)."""
    if n <= 0:
        raise ConfigError("an interval of no questions")
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def per_question_mean(rows: list[dict], key: str = "correct") -> dict:
    """{question id: mean of `key` over its samples} (pass@1 estimated from N samples)."""
    by: dict = defaultdict(list)
    for r in rows:
        by[r["id"]].append(float(r[key]))
    return {q: sum(v) / len(v) for q, v in by.items()}


def bootstrap(tables: list[dict], statistic: Callable[[list[np.ndarray]], float], resamples: int = RESAMPLES,
              seed: int = SEED) -> tuple[float, float] | None:  # fmt: skip
    """95% percentile interval of `statistic` over questions resampled with replacement.

    `tables` are {question: value} maps of runs on the same questions; each resample draws question
    ids once and hands every run its values in that order. Questions missing from any run are left
    out. None when fewer than two questions are shared or the statistic is undefined on every draw."""
    shared = sorted(set.intersection(*(set(t) for t in tables)), key=str)
    if len(shared) < 2:
        return None
    columns = [np.array([t[q] for q in shared], dtype=float) for t in tables]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(shared), size=(resamples, len(shared)))
    values = [statistic([c[d] for c in columns]) for d in draws]
    values = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if values.size == 0:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def percent(value: float, ci=None, unit: str = "", signed: bool = False) -> str:
    """A fraction and its interval in percent, one decimal: "12.5 [4.3, 31.0]" (`unit` after the
    value, e.g. "%"; `signed`: "+12.5"). No interval, no brackets."""
    head = f"{100 * value + 0.0:+.1f}" if signed else f"{100 * value:.1f}"  # + 0.0: no "-0.0"
    return head + unit + ("" if not ci else f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]")


SMALL_N = 300  # below this many questions a mean accuracy gets a Wilson interval


def clustered_se(by_q: dict) -> float:
    """Standard error of the mean accuracy, clustered by question: the spread of the per-question
    means (each the mean of that question's k samples) over the n questions, / sqrt(n)."""
    values = np.array(list(by_q.values()), dtype=float)
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def mean_interval(by_q: dict, samples_per_question: int = 1) -> tuple[float, float]:
    """The interval of a mean accuracy over questions: Wilson for one 0/1 sample per question, and for
    pass@1 over k samples on fewer than SMALL_N questions (the mean as a share of n); else the mean ±
    1.96 clustered standard errors."""
    n, mean = len(by_q), sum(by_q.values()) / len(by_q)
    if samples_per_question <= 1 and all(v in (0.0, 1.0) for v in by_q.values()):
        return wilson(sum(by_q.values()), n)
    if n < SMALL_N:
        return wilson(mean * n, n)
    half = Z95 * clustered_se(by_q)
    return max(0.0, mean - half), min(1.0, mean + half)


def paired_gain(
    base: dict, other: dict, resamples: int = RESAMPLES
) -> tuple[float, tuple[float, float] | None]:
    """other - base in mean accuracy over the questions both answered, with its paired 95% interval."""
    shared = set(base) & set(other)
    if not shared:
        raise ConfigError("a gain over no shared questions")
    gain = sum(other[q] - base[q] for q in shared) / len(shared)
    return gain, bootstrap([base, other], lambda cols: float((cols[1] - cols[0]).mean()), resamples)
