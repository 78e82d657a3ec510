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
tie goes to the cheaper label); a budget no label fits gets the cheapest label.
"""

from __future__ import annotations

from collections import defaultdict

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


def choose(records: list[dict], levels: dict, budgets: list[float]) -> dict:
    by = _table(records)
    policy = {}
    for level in range(1, LEVELS + 1):
        ids = [q for q, v in levels.items() if v == level]
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


def apply(policy: dict, records: list[dict], levels: dict, budget: float) -> tuple[float, float]:
    """Accuracy and mean generated tokens when each question uses its level's chosen label."""
    by = _table(records)
    right = tokens = n = 0
    for qid, level in levels.items():
        label = policy.get((level, budget))
        if label is None or qid not in by.get(label, {}):
            continue
        r = by[label][qid]
        right += r["correct"]
        tokens += r["generated_tokens"]
        n += 1
    return (right / n, tokens / n) if n else (0.0, 0.0)


def best_label(records: list[dict], prefix: str, budget: float) -> str | None:
    """The most accurate label of one strategy family (e.g. 'wbon@') whose mean tokens fit the budget."""
    stats = {
        k: accuracy_and_tokens(list(v.values())) for k, v in _table(records).items() if k.startswith(prefix)
    }
    return _pick(stats, budget)
