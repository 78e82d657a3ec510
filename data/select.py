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
from collections import defaultdict


def rank_draw(rng: random.Random, m: int, base: float = 2.0) -> int:
    """A rank in [0, m) drawn with probability proportional to base^-rank."""
    if m <= 0:
        raise ValueError("cannot draw from an empty list")
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


def s1_select(rows: list[dict], n: int, seed: int = 0, rank_base: float = 2.0) -> list[dict]:
    """Up to `n` rows chosen by s1's rule (all rows, shuffled by the rule, when fewer than n exist)."""
    if n <= 0:
        raise ValueError(f"--num-samples must be > 0, got {n}")
    if rank_base < 1.0:
        raise ValueError(f"--rank-base must be >= 1, got {rank_base}")
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_domain[row["domain"]].append(row)
    for items in by_domain.values():
        items.sort(key=lambda r: (-r["trace_tokens"], r["id"]))
    rng = random.Random(seed)
    domains = sorted(by_domain)
    chosen: list[dict] = []
    while len(chosen) < n and domains:
        d = rng.choice(domains)
        items = by_domain[d]
        chosen.append(items.pop(rank_draw(rng, len(items), rank_base)))
        if not items:
            domains.remove(d)
    return chosen
