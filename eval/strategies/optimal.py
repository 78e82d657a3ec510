"""Compute-optimal strategy choice by question difficulty (Snell et al., 2024).

    levels, edges = difficulty_levels({"q1": 0.9, "q2": 0.1, ...})        # 1 = easiest .. 5 = hardest
    policy = choose(val_records, val_levels, budgets)                       # {(level, budget): label}
    apply(policy, test_records, test_levels, budget)                        # -> (accuracy, tokens/question)

Difficulty is a per-question number where higher means easier: pass@1 estimated from the shared
samples (oracle: it needs the gold answers) or the mean verifier score of those samples (predicted:
no labels). Questions are binned into five levels by quantiles; the predicted levels of the test
split use the validation split's edges, so nothing about the test answers leaks into the choice.

On validation, for every level and budget the policy picks the label (strategy + settings) with the
best accuracy among those whose mean generated tokens on that level's questions fit the budget (a
tie goes to the cheaper label); a budget no label fits gets the cheapest label. The same choice made
on all validation questions together is the policy's fallback (level 0): a test question whose level
had no validation question (quantile bins of tied pass@1 values are often empty) uses it. Every test
question counts in the accuracy, so compute-optimal and best-of-N are compared on the same set.
"""

from __future__ import annotations

from collections import defaultdict

from thinkscale.common.errors import ConfigError

LEVELS = 5


def difficulty_levels(ease: dict, edges: list[float] | None = None) -> tuple[dict, list[float]]:
    """Level 1 (easiest) .. 5 per question id, by quantiles of `ease` (or by the given edges)."""
    if not ease:
        return {}, edges or []
    if edges is None:
        values = sorted(ease.values(), reverse=True)
        edges = [values[min(len(values) - 1, (len(values) * k) // LEVELS)] for k in range(1, LEVELS)]
    levels = {}
    for qid, v in ease.items():
        levels[qid] = 1 + sum(v <= e for e in edges)  # at an edge: the harder side
    return levels, edges


def _table(records: list[dict]) -> dict:
    by = defaultdict(dict)
    for r in records:
        by[r["label"]][r["id"]] = r
    return by


def accuracy_and_tokens(rows: list[dict]) -> tuple[float, float]:
    """Share right and mean generated tokens of a label's records."""
    return sum(r["correct"] for r in rows) / len(rows), sum(r["generated_tokens"] for r in rows) / len(rows)


def _pick(stats: dict, budget: float) -> str | None:
    """The most accurate label whose mean tokens fit the budget (a tie goes to the cheaper); None if none fits."""
    fits = [k for k in stats if stats[k][1] <= budget]
    return max(fits, key=lambda k: (stats[k][0], -stats[k][1])) if fits else None


FALLBACK = 0  # the policy's level for questions whose own level got no choice


def choose(records: list[dict], levels: dict, budgets: list[float]) -> dict:
    """{(level, budget): label} for levels 1..5 that have validation questions, and the fallback
    {(0, budget): label} chosen on all of them."""
    by = _table(records)
    policy = {}
    for level in (FALLBACK, *range(1, LEVELS + 1)):
        ids = [q for q, v in levels.items() if level in (FALLBACK, v)]
        if not ids:
            continue
        stats = {
            label: accuracy_and_tokens([rows[q] for q in ids])
            for label, rows in by.items()
            if all(q in rows for q in ids)
        }
        cheapest = min(stats, key=lambda k: stats[k][1])
        for b in budgets:
            policy[(level, b)] = _pick(stats, b) or cheapest
    return policy


def outcomes(policy: dict, records: list[dict], levels: dict, budget: float) -> dict:
    """{question: (correct, generated tokens)} for every test question, each under its level's chosen
    label (the fallback's where its level got none). A question the chosen label never answered is an
    error: it would otherwise drop out of the accuracy."""
    by = _table(records)
    out = {}
    for qid, level in levels.items():
        label = policy.get((level, budget)) or policy.get((FALLBACK, budget))
        if label is None:
            raise ConfigError(f"compute-optimal: no policy for budget {budget} (empty validation split?)")
        if qid not in by.get(label, {}):
            raise ConfigError(
                f"compute-optimal: question {qid!r} has no record for its chosen label {label!r}"
            )
        r = by[label][qid]
        out[qid] = (float(r["correct"]), float(r["generated_tokens"]))
    return out


def mean_outcome(got: dict) -> tuple[float, float]:
    """Accuracy and mean generated tokens of `outcomes` ((0, 0) for no question)."""
    if not got:
        return 0.0, 0.0
    return sum(c for c, _ in got.values()) / len(got), sum(t for _, t in got.values()) / len(got)


def apply(policy: dict, records: list[dict], levels: dict, budget: float) -> tuple[float, float]:
    """Accuracy and mean generated tokens over every test question, each using its level's label."""
    return mean_outcome(outcomes(policy, records, levels, budget))


def best_label(records: list[dict], prefix: str, budget: float) -> str | None:
    """The most accurate label of one strategy family (e.g. 'wbon@') whose mean tokens fit the budget."""
    stats = {
        k: accuracy_and_tokens(list(v.values())) for k, v in _table(records).items() if k.startswith(prefix)
    }
    return _pick(stats, budget)
