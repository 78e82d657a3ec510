"""The quality stage: drop bad rows, duplicates and evaluation-set contamination, counting each reason.

    kept, counts, examples = quality_filter(rows, test_rows, args)

Bad rows (s1's rules, its data/filter.ipynb): a missing or empty question / reasoning / answer /
reference answer (s1 drops every row with a missing feature, so rows without a gold answer never
reach the difficulty stage, where they would count as unsolved and be kept), API-error text, images,
`[asy]` figures outside AIME (AIME problems keep theirs), and s1's two question patterns: a problem
number such as "p3." (`p{i}.` for i < 1000) and a bold span holding a digit (`**...3...**`). A set
already curated (s1K, s1K-1.1), only being trained on, skips the stage (`--filter-quality false`), as
s1 trains on it whole. Then exact and near-duplicate
questions (`data.dedup`), then 8-gram decontamination (`data.decontaminate`) against the local
benchmark files given and against the built-in test split. Built-in rows are checked against the
built-in test split by exact question only: its problems are templates, and the split is already
disjoint in parameters by construction (see `data.builtin.pool`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from thinkscale.common.errors import ConfigError
from thinkscale.common.validate import within
from thinkscale.data.decontaminate import EvalIndex
from thinkscale.data.dedup import deduplicate

REQUIRED = ("question", "reasoning", "answer", "gold")
_PROBLEM_NUMBER_RE = re.compile(
    r"p(?:[1-9]\d{0,2})\."
)  # s1: any(f"p{i}." in question for i in range(1, 1000))
_BOLD_DIGIT_RE = re.compile(r"\*\*(?=.*\d)[^\s\]]*\*\*")  # s1's pattern, as written
_API_ERROR_RE = re.compile(
    r"(api error|error code: ?\d{3}|rate limit(ed)? exceeded|internal server error|service unavailable|"
    r"request timed out|quota exceeded|too many requests|\"error\": ?\{|<!doctype html)",
    re.IGNORECASE,
)
_IMAGE_RE = re.compile(r"(!\[[^\]]*\]\(|<img\b|\[image\]|\bimage\d*\.(png|jpe?g|gif)\b)", re.IGNORECASE)


@dataclass
class QualityArgs:
    """Quality-stage settings (recipe keys of the same names)."""

    _argument_group_name = "curation: quality and decontamination"  # its flags' heading in --help

    near_dup_threshold: float = field(
        default=0.8,
        metadata={"help": "Word-trigram Jaccard at which two same-number questions are duplicates."},
    )
    decontaminate_against: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Benchmark JSON-lines files whose questions training rows must not overlap (8-grams)."
        },
    )
    ngram: int = field(default=8, metadata={"help": "n of the n-gram overlap test (s1: 8)."})
    filter_quality: bool = field(
        default=True,
        metadata={
            "help": "false: keep every row (a set already curated, such as s1K-1.1, trained on whole as s1 does)."
        },
    )

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ConfigError(f"--ngram must be >= 1, got {self.ngram}")
        within(self, 0.0, 1.0, "near_dup_threshold")


def row_problem(row: dict) -> str | None:
    """Why a row is unusable (a reason key for the report), or None."""
    for name in REQUIRED:
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            return f"missing_{name}"
    text = f"{row['question']}\n{row['reasoning']}\n{row['answer']}"
    if _API_ERROR_RE.search(text):
        return "api_error"
    if _IMAGE_RE.search(row["question"]):
        return "image"
    if "[asy]" in row["question"] and "aime" not in str(row.get("source", "")).lower():
        return "asy_figure"
    if _PROBLEM_NUMBER_RE.search(row["question"]):
        return "problem_number"
    if _BOLD_DIGIT_RE.search(row["question"]):
        return "bold_digits"
    return None


def quality_filter(
    rows: list[dict], test_rows: list[dict], args: QualityArgs
) -> tuple[list[dict], dict[str, int], dict[str, list[str]]]:
    """(kept rows, drop counts by reason, a few example ids per reason)."""
    if not args.filter_quality:
        return list(rows), {}, {}
    counts: Counter = Counter()
    examples: dict[str, list[str]] = {}

    def drop(reason: str, row_id: str) -> None:
        counts[reason] += 1
        examples.setdefault(reason, [])
        if len(examples[reason]) < 5:
            examples[reason].append(row_id)

    good = []
    for row in rows:
        reason = row_problem(row)
        if reason:
            drop(reason, row["id"])
        else:
            good.append(row)
    good, dups = deduplicate(good, args.near_dup_threshold)
    for row_id in dups:
        drop("duplicate", row_id)

    external = EvalIndex.from_files(args.decontaminate_against, n=args.ngram)
    builtin_test = EvalIndex(n=args.ngram)
    builtin_test.add("builtin-test", [r["question"] for r in test_rows])
    kept = []
    for row in good:
        hit = external.contaminated(row["question"]) or builtin_test.contaminated(
            row["question"], use_ngrams=row.get("source") != "builtin"
        )
        if hit:
            drop(f"contaminated:{hit}", row["id"])
        else:
            kept.append(row)
    return kept, dict(counts), examples
