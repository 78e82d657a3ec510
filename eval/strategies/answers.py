"""Voting over answers: equivalent answers (by the grader's math-verify test) form one cluster.

majority(["1/2", "0.5", "3"])                    # -> "1/2" (two votes)
majority(["1/2", "3", "3"], weights=[.9, .2, .3])  # -> "1/2" (0.9 > 0.5): weighted best-of-N
"""

from __future__ import annotations

from thinkscale.grading.grade import is_equivalent


def clusters(answers: list[str | None]) -> list[int]:
    """Cluster index per answer (None answers get -1); answers join the first equivalent cluster."""
    reps: list[str] = []
    out = []
    for a in answers:
        if a is None:
            out.append(-1)
            continue
        for k, rep in enumerate(reps):
            if a == rep or is_equivalent(a, rep):
                out.append(k)
                break
        else:
            reps.append(a)
            out.append(len(reps) - 1)
    return out


def vote(answers: list[str | None], weights: list[float] | None = None) -> tuple[str | None, float]:
    """The answer with the largest total weight (1 each by default) and that total.

    Ties go to the cluster whose first member came first: with samples drawn in order, maj@n with
    a tie keeps the earlier sample's answer, so maj@1 is exactly the first sample.
    """
    ids = clusters(answers)
    weights = weights if weights is not None else [1.0] * len(answers)
    totals: dict[int, float] = {}
    first: dict[int, int] = {}
    for i, (k, w) in enumerate(zip(ids, weights, strict=True)):
        if k >= 0:
            totals[k] = totals.get(k, 0.0) + w
            first.setdefault(k, i)
    if not totals:
        return None, 0.0
    best = max(totals, key=lambda k: (totals[k], -first[k]))
    return answers[first[best]], totals[best]


def majority(answers: list[str | None], weights: list[float] | None = None) -> str | None:
    return vote(answers, weights)[0]
