"""Which sampled responses to learn from: a small integer linear program per batch (scipy `milp`).

    chosen = select(rewards, extended, groups, q=0.25, per_question=2, tokens=lengths)

For responses i of a batch, with reward r_i (1: graded right, 0: wrong), e_i (1: extended length
group), g_i (its question) and t_i (its tokens), choose x_i in {0, 1} to

    maximise   sum_i r_i x_i  -  delta * sum_i t_i x_i        (delta < 1 / sum_i t_i: a tie-break only)
    subject to sum_i (e_i - q) x_i <= 0                       (extended share of the chosen <= q)
               sum_{i in g} x_i <= per_question  for each g   (no question dominates the update)
               x_i <= r_i                                     (learn only from right answers)

The budget is the IBPO constraint on the policy's share of long answers; the per-question cap makes
the budget bite where it matters — a hard question answered right only by extended responses needs
one of the scarce extended slots, an easy one can be covered by a short response — and the
token tie-break prefers the shorter of equally good responses. Solved exactly by HiGHS (branch and
bound) through scipy; a batch of a few hundred responses takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from thinkscale.common.errors import ConfigError


def objective(chosen: Sequence[bool], rewards, tokens) -> float:
    delta = 1.0 / (1.0 + sum(tokens))
    return sum(r - delta * t for c, r, t in zip(chosen, rewards, tokens, strict=True) if c)


def feasible(chosen: Sequence[bool], rewards, extended, groups, q: float, per_question: int | None) -> bool:
    picked = [i for i, c in enumerate(chosen) if c]
    if any(not rewards[i] for i in picked):
        return False
    if sum(extended[i] for i in picked) > q * len(picked) + 1e-9:
        return False
    if per_question is not None:
        for g in set(groups):
            if sum(1 for i in picked if groups[i] == g) > per_question:
                return False
    return True


def select(rewards: Sequence[float], extended: Sequence[bool], groups: Sequence, q: float,
           per_question: int | None = None, tokens: Sequence[int] | None = None) -> list[bool]:  # fmt: skip
    """The chosen responses (see the module docstring); raises on malformed input."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(rewards)
    if not (len(extended) == len(groups) == n) or (tokens is not None and len(tokens) != n):
        raise ConfigError("rewards, extended, groups (and tokens) must have one entry per response")
    if not 0 <= q <= 1:
        raise ConfigError(f"--budgets: q must be in [0, 1], got {q}")
    if n == 0:
        return []
    tokens = list(tokens) if tokens is not None else [0] * n
    r = np.array([float(bool(x)) for x in rewards])
    delta = 1.0 / (1.0 + sum(tokens))
    c = -(r - delta * np.array(tokens, dtype=float))
    rows, lo, hi = [np.array([float(e) - q for e in extended])], [-np.inf], [0.0]
    if per_question is not None:
        for g in dict.fromkeys(groups):
            rows.append(np.array([1.0 if x == g else 0.0 for x in groups]))
            lo.append(-np.inf)
            hi.append(float(per_question))
    res = milp(c, constraints=LinearConstraint(np.vstack(rows), lo, hi), integrality=np.ones(n),
               bounds=Bounds(np.zeros(n), r))  # fmt: skip
    if not res.success:  # x = 0 is always feasible, so this is a solver failure, not an empty batch
        raise RuntimeError(f"milp failed on a batch of {n} responses: {res.message}")
    return [bool(round(v)) for v in res.x]
