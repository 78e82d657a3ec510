"""s1's diversity selection: a domain uniformly at random, then a question in it weighted 2^-rank by
reasoning-trace length (longest first), without replacement, until N rows are chosen.

    chosen = s1_select(rows, n=1000, seed=0)     # rows need `domain` and `trace_tokens`

This is the rule of s1 (Muennighoff et al., 2025, section 2): it spreads the set over domains and,
inside a domain, prefers long traces — the harder problems — without taking only the longest.
`rank_base` 2 is s1's weighting; 1 would be uniform inside a domain. Ties in length break by row id,
so a seed fixes the result.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from thinkscale.common.errors import ConfigError


def rank_draw(rng: random.Random, m: int, base: float = 2.0) -> int:
    """A rank in [0, m) drawn with probability proportional to base^-rank."""
    if m <= 0:
        raise ConfigError("cannot draw from an empty list")
    if base == 1.0:
        return rng.randrange(m)
    total = (1 - base**-m) / (1 - 1 / base)
    u = rng.random() * total
    weight, acc = 1.0, 0.0
    for r in range(m):
        acc += weight
        if u < acc:
            return r
        weight /= base
    return m - 1  # floating-point leftovers land on the last rank


@dataclass
class S1Steps:
    """s1's two selection steps around the draw (its data/filter.ipynb); empty lists: not used.

    - kept whole: every row of `keep_whole` sources whose trace's own answer grades right, and of
      `keep_long` sources those whose trace is over `keep_long_min_tokens` (s1: GPQA and AIME whole,
      MATH over 5600 tokens) — chosen first, before any draw;
    - benchmark-weighted domains: once `benchmark_after` rows are chosen (s1: 700), the domain is
      drawn in proportion to how often it occurs among `benchmark_sources`, each source's counts
      scaled so its total is `benchmark_shares` x the first's (s1: AIME 1, GPQA 0.5; truncated to
      whole counts, as s1 does), instead of uniformly."""

    keep_whole: list[str] = field(default_factory=list)
    keep_long: list[str] = field(default_factory=list)
    keep_long_min_tokens: int = 5600
    benchmark_after: int = 0
    benchmark_sources: list[str] = field(default_factory=list)
    benchmark_shares: list[float] = field(default_factory=list)


def from_source(row: dict, names: list[str]) -> bool:
    """Whether the row comes from one of `names` (s1's source_type, e.g. `Idavidrein/gpqa`)."""
    source = str((row.get("meta") or {}).get("source_type") or row.get("source") or "")
    return any(name in source for name in names)


def kept_whole(rows: list[dict], steps: S1Steps, is_right) -> list[dict]:
    return [r for r in rows
            if (from_source(r, steps.keep_whole) and is_right(r))
            or (from_source(r, steps.keep_long) and is_right(r) and r["trace_tokens"] > steps.keep_long_min_tokens)]  # fmt: skip


def benchmark_weights(rows: list[dict], steps: S1Steps) -> dict[str, float]:
    """Domain -> weight from the benchmark-derived rows (s1: AIME counts + int(GPQA counts x ratio))."""
    counts = [
        Counter(r["domain"] for r in rows if from_source(r, [name])) for name in steps.benchmark_sources
    ]
    if not counts or not sum(counts[0].values()):
        return {}
    first = sum(counts[0].values())
    weights: Counter = Counter(counts[0])
    for share, c in zip(steps.benchmark_shares[1:], counts[1:], strict=True):
        ratio = share / steps.benchmark_shares[0] * first / max(sum(c.values()), 1)
        weights.update({d: int(k * ratio) for d, k in c.items()})
    return {d: float(w) for d, w in weights.items() if w > 0}


def s1_select(rows: list[dict], n: int, seed: int = 0, rank_base: float = 2.0,
              steps: S1Steps | None = None, is_right=None) -> list[dict]:  # fmt: skip
    """Up to `n` rows chosen by s1's rule (all rows, shuffled by the rule, when fewer than n exist).

    With `steps`, the kept-whole rows come first and the domain draw turns benchmark-weighted after
    `benchmark_after` rows. As in s1, the domain pools still hold the kept-whole rows: drawing one
    removes it from its pool without adding it twice. `is_right(row)`: whether the row's trace answers
    right (the keep-whole steps need it)."""
    if n <= 0:
        raise ConfigError(f"--num-samples must be > 0, got {n}")
    if rank_base < 1.0:
        raise ConfigError(f"--rank-base must be >= 1, got {rank_base}")
    steps = steps or S1Steps()
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_domain[row["domain"]].append(row)
    for items in by_domain.values():
        items.sort(key=lambda r: (-r["trace_tokens"], r["id"]))
    rng = random.Random(seed)
    domains = sorted(by_domain)
    chosen = kept_whole(rows, steps, is_right)[:n] if steps.keep_whole or steps.keep_long else []
    taken = {r["id"] for r in chosen}
    weights = benchmark_weights(rows, steps) if steps.benchmark_after > 0 else {}
    while len(chosen) < n and domains:
        live = [d for d in sorted(weights) if d in by_domain and by_domain[d]]
        if weights and len(chosen) >= steps.benchmark_after and live:
            d = rng.choices(live, weights=[weights[x] for x in live])[0]
        else:  # uniform (and once every benchmark domain is used up, where s1 would stop with an error)
            d = rng.choice(domains)
        items = by_domain[d]
        row = items.pop(rank_draw(rng, len(items), rank_base))
        if row["id"] not in taken:
            taken.add(row["id"])
            chosen.append(row)
        if not items:
            domains.remove(d)
    return chosen
