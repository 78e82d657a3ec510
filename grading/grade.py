"""Answer grading: extract the final answer and test mathematical equivalence with math-verify.

    from thinkscale.grading.grade import grade
    grade("... so \\boxed{0.5}", "\\frac{1}{2}")     # -> Graded(extracted="0.5", correct=True)

Re-grade any results file (writes `extracted` and `correct` into each row, atomically, and prints
the accuracy):

    thinkscale grade --file outputs/eval/run/samples.jsonl --pred-field answer --gold-field gold

Gold answers may be bare ("18"), LaTeX ("\\frac{3}{4}"), a solution with a `\\boxed{}` (MATH, s1K) or
GSM8K's "... #### 18". Equivalence is math-verify's (fractions, decimals, LaTeX, intervals, tuples,
units stripped), tried on the LaTeX and the plain reading of each side; multiple-choice answers
compare letters. No judge model.

Two guards sit in front of math-verify, which on its own accepts both of these:
- case: "E" is not "e", nor "2X" "2x" (variables and constants are case-sensitive); only words of two
  or more letters ("Even", "even") compare without case;
- equations: "x = 5" answers 5 (a single symbol on the left names the value), and so does a worked
  computation "16 * 16 = 256" (no variable on the left), but "3x+1 = 7" does not answer 7; an equation
  is compared whole only against a gold answer that is itself an equation.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_write_jsonl, read_jsonl
from thinkscale.grading.extract import extract_answer, last_boxed


@dataclass(frozen=True)
class Graded:
    extracted: str | None
    correct: bool


def gold_answer(raw: str) -> str:
    """The final answer inside a gold field: after GSM8K's '####', else the last \\boxed{}, else as is."""
    raw = str(raw).strip()
    if "####" in raw:
        return raw.rsplit("####", 1)[1].strip().replace(",", "")
    boxed = last_boxed(raw)
    return boxed if boxed is not None else raw


def _normalise(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
    s = re.sub(r"\s+", "", s)
    return s.rstrip(".").replace("\\!", "").replace("\\,", "")


def _words_alike(a: str, b: str) -> bool:
    # Words compare without case ("Even" / "even"); single letters and expressions never do.
    return bool(re.fullmatch(r"[A-Za-z]{2,}", a)) and a.lower() == b.lower()


# Single-letter identifiers outside LaTeX commands: "2X+y" -> X, y; "\\frac{a}{b}" -> a, b.
def _symbols(s: str) -> list[str]:
    bare = re.sub(r"\\[A-Za-z]+", " ", s)
    return sorted(re.findall(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])", bare))


def _case_clash(pred: str, gold: str) -> bool:
    """The same letters up to case, in a different case: what math-verify would wrongly accept."""
    p, g = _symbols(pred), _symbols(gold)
    return p != g and [c.lower() for c in p] == [c.lower() for c in g]


@lru_cache(maxsize=65536)
def _parsed(s: str) -> tuple:
    # Imported lazily: math-verify pulls in sympy, which takes a second to import.
    from math_verify import parse

    # The LaTeX reading first; the plain reading only when that finds nothing, because plain
    # extraction without anchors grabs a trailing number ("8n^2 + 4n + 1" -> 1).
    if "$" not in s:
        latex = parse(f"${s}$", parsing_timeout=2)
        if latex:
            return tuple(latex)
    return tuple(parse(s, parsing_timeout=2))


_RELATION_RE = re.compile(r"(?<![<>!=])=(?!=)")
_SYMBOL_RE = re.compile(r"\s*(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?\s*")


def _value(pred: str, gold: str) -> str | None:
    """What of `pred` is compared with `gold`: the last value of "x = 5" (a single symbol on the left;
    a chain "x = 2+3 = 5" ends in its value) or of a worked computation "16 * 16 = 256" (no variable
    on the left); None for an equation in a variable such as "3x+1 = 7", which states no value.
    Against a gold equation the prediction is compared whole."""
    if not _RELATION_RE.search(pred) or _RELATION_RE.search(gold):
        return pred
    parts = _RELATION_RE.split(pred)
    return parts[-1] if _SYMBOL_RE.fullmatch(parts[0]) or not _symbols(parts[0]) else None


def is_equivalent(pred: str, gold: str) -> bool:
    """Whether two answer strings denote the same mathematical object."""
    if pred is None or gold is None:
        return False
    value = _value(pred, gold)
    if value is None:
        return False
    p, g = _normalise(value), _normalise(gold)
    if p == g or _words_alike(p, g):
        return True
    if _case_clash(p, g):
        return False
    from math_verify import verify

    gold_p = _parsed(gold)
    pred_p = _parsed(value.strip())
    return bool(gold_p and pred_p and verify(list(gold_p), list(pred_p), timeout_seconds=2))


def matches(extracted: str | None, gold: str, choices: str | None = None) -> bool:
    """Whether an extracted answer is right: the same letter for multiple choice (`choices`), else
    `is_equivalent` to the gold answer (GSM8K's '####' and a solution's \\boxed{} are read first)."""
    if extracted is None:
        return False
    if choices:
        return extracted.strip().strip("()") == gold_answer(gold).strip().strip("()").upper()
    return is_equivalent(extracted, gold_answer(gold))


def grade(text: str, gold: str, choices: str | None = None) -> Graded:
    """Extract the answer from a model's text and compare it with the gold answer."""
    extracted = extract_answer(text, choices)
    return Graded(extracted, matches(extracted, gold, choices))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Grade a JSON-lines results file in place; writes `extracted` and `correct` to each row.\n\n"
        "    thinkscale grade --file results.jsonl --pred-field answer --gold-field gold\n"
        "    thinkscale grade --file gpqa.jsonl --pred-field answer --gold-field gold --choices ABCD",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--file", required=True, help="JSON-lines file to grade")
    p.add_argument("--pred-field", required=True, help="field holding the model's answer text")
    p.add_argument("--gold-field", required=True, help="field holding the gold answer (or a solution)")
    p.add_argument("--choices", default=None, help="multiple choice: the letters, e.g. ABCD")
    p.add_argument("--output", default=None, help="write here instead of rewriting --file")
    args = p.parse_args(argv)

    rows = read_jsonl(args.file)
    for i, row in enumerate(rows, 1):
        for flag, name in (("--pred-field", args.pred_field), ("--gold-field", args.gold_field)):
            if name not in row:
                raise ConfigError(f"{args.file}:{i}: no field {name!r} (set {flag})")
        g = grade(str(row[args.pred_field] or ""), str(row[args.gold_field]), args.choices)
        row["extracted"], row["correct"] = g.extracted, g.correct
    atomic_write_jsonl(args.output or args.file, rows)
    n = sum(r["correct"] for r in rows)
    print(f"accuracy {n}/{len(rows)} = {n / max(len(rows), 1):.4f}  ({args.output or args.file})")
    return 0


if __name__ == "__main__":
    from thinkscale.common.config import run_cli

    run_cli(main, sys.argv[1:])
