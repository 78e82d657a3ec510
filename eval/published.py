"""s1's published accuracies, keyed by the recipe run that reproduces each, so the Table 1 printout
names the row it is compared with (`eval.run`'s benchmark table).

    published_row("simplescaling/s1-32B", "wait", 2, ("Wait",))   # ("Table 4: 2x \"Wait\"", {...})

Numbers from arXiv 2501.19393v3 (AIME24 / MATH500 / GPQA-Diamond, in %): Table 1, Table 4 and
Table 5 (Appendix A, s1 and s1.1 with 0-4 Waits). Where s1 is inconsistent it is said beside the row:
Table 1's s1-32B row (56.7 / 93.0 / 59.6) is the best of its Wait sweep per benchmark (AIME24 from 4
Waits, MATH500 from 2, GPQA from 1-2), not one run; its "w/o BF" row is the run with no thinking cap
and no forced answer (`no_forcing`), while Table 4's "no extrapolation" row (50.0 / 93.0 / 57.6) is
`max_tokens_thinking=auto` with no Wait (`wait` 0).

Run: imported by `eval.run`; tested in tests/test_table1_recipes.py.
"""

from __future__ import annotations

S1 = "simplescaling/s1-32B"
S1_1 = "simplescaling/s1.1-32B"


def _row(aime: float, math: float, gpqa: float) -> dict[str, float]:
    return {"aime24": aime, "math500": math, "gpqa_diamond": gpqa}


# (model, method, point, ignore strings) -> (the published row's name, its accuracies)
PUBLISHED: dict[tuple, tuple[str, dict[str, float]]] = {
    (S1, "no_forcing", "none", ("Wait",)): ("Table 1: s1 w/o BF", _row(50.0, 92.6, 56.6)),
    (S1, "wait", "0", ("Wait",)): (
        "Table 4: no extrapolation (max_tokens_thinking=auto)",
        _row(50.0, 93.0, 57.6),
    ),
    (S1, "wait", "1", ("Wait",)): ('Table 5: s1 BF "Wait" 1x', _row(53.3, 92.8, 59.6)),
    (S1, "wait", "2", ("Wait",)): ('Table 4 / 5: 2x "Wait"', _row(53.3, 93.0, 59.6)),
    (S1, "wait", "4", ("Wait",)): (
        'Table 5: s1 BF "Wait" 4x (Table 1\'s AIME24 56.7)',
        _row(56.7, 92.2, 58.6),
    ),
    (S1, "wait", "2", ("",)): ("Table 4: 2x without string", _row(50.0, 90.2, 55.1)),
    (S1, "wait", "2", ("Hmm",)): ('Table 4: 2x "Hmm"', _row(50.0, 93.0, 59.6)),
    (S1, "wait", "2", ("Alternatively",)): ('Table 4: 2x "Alternatively"', _row(50.0, 92.2, 59.6)),
    (S1_1, "no_forcing", "none", ("Wait",)): ("Table 5: s1.1 w/o BF", _row(56.7, 94.4, 60.6)),
    (S1_1, "wait", "1", ("Wait",)): ('Table 5: s1.1 BF "Wait" 1x', _row(56.7, 95.4, 62.6)),
    (S1_1, "wait", "2", ("Wait",)): ('Table 5: s1.1 BF "Wait" 2x', _row(56.7, 95.4, 63.6)),
}


def published_row(model: str, method: str, point, ignore_strings) -> tuple[str, dict[str, float]] | None:
    """The published row a run reproduces, or None (s1 published no such run, e.g. 6 Waits)."""
    return PUBLISHED.get((model, method, str(point), tuple(ignore_strings)))
