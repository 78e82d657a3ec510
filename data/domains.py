"""Domain labels for rows that come without one: an offline keyword classifier over Mathematics
Subject Classification (MSC) top-level areas, and an optional model-based classifier.

    label_domains(rows, classifier="keyword")              # fills row["domain"] where it is None
    label_domains(rows, classifier="model", engine=engine, tokenizer=tok, fmt=fmt)

s1 labelled its 59K pool with MSC codes using Claude; offline we score each question by keyword hits
per area (word-boundary regexes, so "mod" does not fire inside "model") and take the best, falling
back to "00 General". The model classifier asks a chat model to pick one label from the list and
falls back to the keyword label when its reply names none.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# MSC top-level areas (plus the sciences s1's pool contains), each with its keywords.
MSC_KEYWORDS: dict[str, list[str]] = {
    "05 Combinatorics": ["how many ways", "arrangements?", "permutations?", "combinations?", "choose",
                         "committees?", "subsets?", "graph", "vertices", "pigeonhole", "outfits?"],
    "11 Number theory": ["primes?", "divisors?", "divisible", "gcd", "greatest common divisor", "lcm",
                         "least common multiple", "remainder", "modulo", "mod", "congruen\\w*", "digits?",
                         "integers? solutions?"],
    "12 Polynomials and field theory": ["polynomials?", "roots?", "quadratic", "cubic", "coefficients?", "field"],
    "15 Linear algebra": ["matrix", "matrices", "determinant", "eigen\\w*", "vector space", "linear map"],
    "26 Real functions and calculus": ["derivative", "integral", "limit", "continuous", "differentiable",
                                       "maximum", "minimum", "f\\(x\\)"],
    "30 Complex analysis": ["complex numbers?", "imaginary", "analytic", "holomorphic"],
    "34 Differential equations": ["differential equations?", "ode", "initial value"],
    "40 Sequences and series": ["sequences?", "series", "terms?", "geometric", "arithmetic progression",
                                "sum of the first", "converge\\w*"],
    "51 Geometry": ["triangles?", "circles?", "angles?", "polygons?", "area", "perimeter", "radius",
                    "rectangles?", "trapezoids?", "squares?", "hypotenuse", "parallel"],
    "60 Probability theory": ["probability", "random(ly)?", "expected value", "dice", "die", "coins?",
                              "marbles?", "chance"],
    "62 Statistics": ["mean", "median", "variance", "standard deviation", "samples?", "estimat\\w*"],
    "68 Computer science": ["algorithms?", "programs?", "code", "complexity", "runtime", "binary"],
    "70 Mechanics": ["velocity", "acceleration", "force", "mass", "momentum", "friction", "km per hour"],
    "80 Thermodynamics and chemistry": ["temperature", "heat", "entropy", "molecules?", "reaction", "moles?"],
    "81 Quantum theory": ["quantum", "electron", "photon", "spin", "wave function"],
    "90 Equations and systems": ["solve for", "equations?", "system", "unknown"],
    "91 Economics and finance": ["price", "cost", "profit", "interest", "dollars?", "tickets?"],
}  # fmt: skip
GENERAL = "00 General"
_PATTERNS = {d: re.compile(r"\b(" + "|".join(kw) + r")\b", re.IGNORECASE) for d, kw in MSC_KEYWORDS.items()}


def keyword_domain(question: str) -> str:
    """The MSC area whose keywords occur most often in the question (ties: lower code), else General."""
    best, best_hits = GENERAL, 0
    for domain, pattern in _PATTERNS.items():
        hits = len(pattern.findall(question))
        if hits > best_hits:
            best, best_hits = domain, hits
    return best


def _model_prompt(question: str) -> str:
    labels = "\n".join(MSC_KEYWORDS) + f"\n{GENERAL}"
    return (f"Classify this problem into exactly one of these areas:\n{labels}\n\n"
            f"Problem: {question}\n\nReply with the area's number and name only.")  # fmt: skip


def parse_model_label(reply: str) -> str | None:
    """The label a classifier reply names (by its MSC number or its name), or None."""
    labels = [*MSC_KEYWORDS, GENERAL]
    m = re.search(r"\b(\d\d)\b", reply)
    if m:
        for label in labels:
            if label.startswith(m.group(1)):
                return label
    low = reply.lower()
    return next((label for label in labels if label[3:].lower() in low), None)


def label_domains(
    rows: list[dict], classifier: str = "keyword", model_labeler: Callable | None = None
) -> dict:
    """Fill `domain` where it is None; returns {'keyword': n, 'model': n, 'given': n}.

    `model_labeler(questions) -> replies` runs a chat model (see `data.curate`); used when
    `classifier == "model"`.
    """
    if classifier not in ("keyword", "model"):
        raise ValueError(f"--domain-classifier must be keyword or model, got {classifier!r}")
    todo = [r for r in rows if not r.get("domain")]
    counts = {"given": len(rows) - len(todo), "keyword": 0, "model": 0}
    replies: list[str | None] = [None] * len(todo)
    if classifier == "model" and todo:
        if model_labeler is None:
            raise ValueError("--domain-classifier model needs a model (set --domain-model)")
        replies = model_labeler([_model_prompt(r["question"]) for r in todo])
    for row, reply in zip(todo, replies, strict=True):
        label = parse_model_label(reply) if reply else None
        counts["model" if label else "keyword"] += 1
        row["domain"] = label or keyword_domain(row["question"])
    return counts
