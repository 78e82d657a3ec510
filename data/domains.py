"""Domain labels for rows that come without one, as Mathematics Subject Classification (MSC) areas:
an offline keyword classifier, and s1's model classifier.

    label_domains(rows, classifier="keyword")              # fills row["domain"] where it is None
    label_domains(rows, classifier="model", model_labeler=labeler)   # data.domains_model

s1 labelled its 59K pool with one of 61 two-digit MSC codes by asking a chat model (`data.msc`:
its instruction, the question and a rubric of the areas; the code on the reply's last line). The
model classifier here asks the recipe's `--domain-model` the same way and falls back to the keyword
label when the reply ends in no code. Offline, each question is scored by keyword hits per area
(word-boundary regexes, so "mod" does not fire inside "model") and takes the best, else "00 General
and overarching topics". Labels read "05 Combinatorics": the code, then the MSC title.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from thinkscale.common.errors import ConfigError
from thinkscale.data.msc import code_of_reply, msc_label

# Keywords per MSC area (the areas elementary and competition problems fall in).
_KEYWORDS: dict[str, list[str]] = {
    "05": ["how many ways", "arrangements?", "permutations?", "combinations?", "choose", "committees?", "subsets?",
           "graph", "vertices", "pigeonhole", "outfits?"],
    "11": ["primes?", "divisors?", "divisible", "gcd", "greatest common divisor", "lcm", "least common multiple",
           "remainder", "modulo", "mod", "congruen\\w*", "digits?", "integers? solutions?"],
    "12": ["polynomials?", "roots?", "quadratic", "cubic", "coefficients?", "field"],
    "15": ["matrix", "matrices", "determinant", "eigen\\w*", "vector space", "linear map"],
    "26": ["derivative", "integral", "limit", "continuous", "differentiable", "maximum", "minimum", "f\\(x\\)"],
    "30": ["complex numbers?", "imaginary", "analytic", "holomorphic"],
    "34": ["differential equations?", "ode", "initial value"],
    "40": ["sequences?", "series", "terms?", "geometric", "arithmetic progression", "sum of the first", "converge\\w*"],
    "51": ["triangles?", "circles?", "angles?", "polygons?", "area", "perimeter", "radius", "rectangles?",
           "trapezoids?", "squares?", "hypotenuse", "parallel"],
    "60": ["probability", "random(ly)?", "expected value", "dice", "die", "coins?", "marbles?", "chance"],
    "62": ["mean", "median", "variance", "standard deviation", "samples?", "estimat\\w*"],
    "68": ["algorithms?", "programs?", "code", "complexity", "runtime", "binary"],
    "70": ["velocity", "acceleration", "force", "mass", "momentum", "friction", "km per hour"],
    "80": ["temperature", "heat", "entropy"],
    "81": ["quantum", "electron", "photon", "spin", "wave function"],
    "91": ["price", "cost", "profit", "interest", "dollars?", "tickets?"],
    "92": ["molecules?", "reaction", "moles?", "cells?", "enzymes?", "dna"],
    "97": ["solve for", "equations?", "system", "unknown"],
}  # fmt: skip
MSC_KEYWORDS: dict[str, list[str]] = {msc_label(code): kws for code, kws in _KEYWORDS.items()}
GENERAL = "00 General and overarching topics"
_PATTERNS = {d: re.compile(r"\b(" + "|".join(kw) + r")\b", re.IGNORECASE) for d, kw in MSC_KEYWORDS.items()}


def keyword_domain(question: str) -> str:
    """The MSC area whose keywords occur most often in the question (ties: lower code), else General."""
    best, best_hits = GENERAL, 0
    for domain, pattern in _PATTERNS.items():
        hits = len(pattern.findall(question))
        if hits > best_hits:
            best, best_hits = domain, hits
    return best


def parse_model_label(reply: str) -> str | None:
    """The MSC area a classifier reply ends with (its two-digit code, as s1 reads it), or None."""
    code = code_of_reply(reply)
    return msc_label(code) if code else None


def label_domains(
    rows: list[dict], classifier: str = "keyword", model_labeler: Callable | None = None
) -> dict:
    """Fill `domain` where it is None; returns {'keyword': n, 'model': n, 'given': n}.

    `model_labeler(questions) -> replies` asks a chat model as s1 did (`data.domains_model`); used
    when `classifier == "model"`.
    """
    if classifier not in ("keyword", "model"):
        raise ConfigError(f"--domain-classifier must be keyword or model, got {classifier!r}")
    todo = [r for r in rows if not r.get("domain")]
    counts = {"given": len(rows) - len(todo), "keyword": 0, "model": 0}
    replies: list[str | None] = [None] * len(todo)
    if classifier == "model" and todo:
        if model_labeler is None:
            raise ConfigError("--domain-classifier model needs a model (set --domain-model)")
        replies = model_labeler([r["question"] for r in todo])
    for row, reply in zip(todo, replies, strict=True):
        label = parse_model_label(reply) if reply else None
        counts["model" if label else "keyword"] += 1
        row["domain"] = label or keyword_domain(row["question"])
    return counts
