"""8-gram decontamination against evaluation sets (s1's rule), plus exact-question checks.

    index = EvalIndex.from_files(["benchmarks/math500.jsonl"])   # e.g. the folder `make data` reads
    hit = index.contaminated("some training question")   # name of the eval set it overlaps, or None

A training question is contaminated when it shares any word 8-gram with an evaluation question, or
equals one (up to case, spacing and punctuation). The 8-grams are s1's (`data/decontaminate_util.py`):
the text lower-cased and split on whitespace, so LaTeX and [asy] code stay whole words, and a text of
fewer than 8 words has no 8-gram (MATH500 against itself: 27 of 500 problems share one with another;
tests/test_curation_stages.py). Only questions are compared. Benchmark files are read as they are:
the question is the first of the fields problem / question / Problem / prompt / input that a row has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import read_jsonl
from thinkscale.common.schema import QUESTION_FIELDS
from thinkscale.data.text import normalise


def s1_ngrams(text: str, n: int) -> set[str]:
    """s1's word n-grams: lower-cased, split on whitespace; none for a text of fewer than n words."""
    tokens = text.lower().split()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def benchmark_questions(path: str | Path) -> list[str]:
    """The questions of a JSON-lines benchmark file; errors name the file and what is missing."""
    rows = read_jsonl(path)
    if not rows:
        raise ConfigError(f"--decontaminate-against {path}: the file has no rows")
    out = []
    for i, row in enumerate(rows, 1):
        name = next((f for f in QUESTION_FIELDS if isinstance(row.get(f), str)), None)
        if name is None:
            raise ConfigError(
                f"--decontaminate-against {path}:{i}: no question field (looked for {', '.join(QUESTION_FIELDS)})"
            )
        out.append(row[name])
    return out


@dataclass
class EvalIndex:
    """The 8-grams and normalised questions of the evaluation sets, by set name."""

    n: int = 8
    grams: dict[str, str] = field(default_factory=dict)  # n-gram -> eval set name
    exact: dict[str, str] = field(default_factory=dict)  # normalised question -> eval set name

    def add(self, name: str, questions: list[str], use_ngrams: bool = True) -> None:
        for q in questions:
            self.exact.setdefault(normalise(q), name)
            if use_ngrams:
                for g in s1_ngrams(q, self.n):
                    self.grams.setdefault(g, name)

    @classmethod
    def from_files(cls, paths: list[str], n: int = 8) -> EvalIndex:
        index = cls(n=n)
        for p in paths:
            index.add(Path(p).name, benchmark_questions(p))
        return index

    def contaminated(self, question: str, use_ngrams: bool = True) -> str | None:
        """The eval set the question overlaps (exact match, or a shared n-gram), else None."""
        hit = self.exact.get(normalise(question))
        if hit or not use_ngrams:
            return hit
        return next((self.grams[g] for g in s1_ngrams(question, self.n) if g in self.grams), None)
