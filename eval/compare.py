"""`thinkscale compare A B`: do two runs of the s1 study hold the same samples where they overlap?

    thinkscale compare outputs/eval/qwen2.5-0.5b_gsm8k outputs/eval/qwen2.5-0.5b_vllm

The question it answers: does the vLLM backend reproduce the HF engine's greedy rows (or a rerun
its own)? Samples are matched by (label, point, question, sample index); for every pair present in
both runs it compares the decoded fields (thinking, answer, extracted answer, grade, token counts,
forced count, why thinking ended). Per label and point it prints the pairs, how many are equal, and
for the first unequal one the field and where the two texts part. Samples in one run only are
counted, not compared (a smaller plan run against a bigger one). Exit status 1 when any pair differs
or nothing overlaps, so a script can check it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import read_jsonl

# What a decode produced; not compared: bookkeeping (label/sample), the question and gold (the
# same by construction of the key) and `segments` (derived from thinking and the forced count).
FIELDS = ("thinking", "answer", "extracted", "correct", "thinking_tokens", "answer_tokens", "num_forced",
          "think_end_reason", "hit_max", "tries")  # fmt: skip


def _samples(run: Path) -> dict[tuple, dict]:
    path = run / "samples.jsonl" if run.is_dir() else run
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file (a run folder of `thinkscale eval` holds samples.jsonl)"
        )
    out = {}
    for i, s in enumerate(read_jsonl(path, allow_torn_tail=True), 1):
        if not all(k in s for k in ("label", "budget", "id")):
            raise ConfigError(f"{path}:{i}: not a sample of the s1 study (needs label, budget and id)")
        out[(s["label"], str(s["budget"]), str(s["id"]), int(s.get("sample", 0)))] = s
    return out


def _parting(a: str, b: str) -> str:
    """Where two texts first differ, with a little context from each."""
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"character {i}: {a[max(0, i - 20) : i + 30]!r} vs {b[max(0, i - 20) : i + 30]!r}"


def _order(key: tuple) -> tuple:
    """Label, then the point in sweep order (64 before 128; "short" / "long" as text), then question."""
    label, point, qid, k = key
    return label, (0, int(point), "") if point.lstrip("-").isdigit() else (1, 0, point), qid, k


def compare(a: dict[tuple, dict], b: dict[tuple, dict]) -> tuple[list[dict], int, int]:
    """Per (label, point): pairs, equal pairs and the first difference; and the samples only in A, only in B."""
    rows: dict[tuple, dict] = {}
    for key in sorted(set(a) & set(b), key=_order):
        row = rows.setdefault(
            key[:2], {"label": key[0], "point": key[1], "pairs": 0, "equal": 0, "first": None}
        )
        row["pairs"] += 1
        diff = next((f for f in FIELDS if a[key].get(f) != b[key].get(f)), None)
        if diff is None:
            row["equal"] += 1
        elif row["first"] is None:
            x, y = a[key].get(diff), b[key].get(diff)
            where = _parting(x, y) if isinstance(x, str) and isinstance(y, str) else f"{x!r} vs {y!r}"
            row["first"] = f"question {key[2]}: {diff} differs at {where}"
    return list(rows.values()), len(set(a) - set(b)), len(set(b) - set(a))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", help="a run folder (outputs/eval/<run>) or its samples.jsonl")
    parser.add_argument("b", help="the other run")
    args = parser.parse_args(argv)
    rows, only_a, only_b = compare(_samples(Path(args.a)), _samples(Path(args.b)))
    print("| label | point | pairs | equal | first difference |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['point']} | {r['pairs']} | {r['equal']} | {r['first'] or '—'} |")
    pairs, equal = sum(r["pairs"] for r in rows), sum(r["equal"] for r in rows)
    print(
        f"{equal} of {pairs} pairs equal field by field; {only_a} samples only in {args.a}, {only_b} only in {args.b}"
    )
    return 0 if pairs and equal == pairs else 1


if __name__ == "__main__":
    from thinkscale.common.config import run_cli

    run_cli(main, sys.argv[1:])
