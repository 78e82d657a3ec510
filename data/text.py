"""Text normalisation shared by deduplication and decontamination: words, numbers, n-grams."""

from __future__ import annotations

import re

# Operators are tokens: "(3 + 5) * 2" and "3 + 5 - 2" are different questions.
_WORD_RE = re.compile(r"[a-z0-9]+|[-+*/^=<>()]")
_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?")


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words and operator symbols: other punctuation and spacing do not count."""
    return _WORD_RE.findall(text.lower())


def normalise(text: str) -> str:
    """One canonical string per question up to case, whitespace and punctuation (exact duplicates)."""
    return " ".join(words(text))


def numbers(text: str) -> tuple[str, ...]:
    """The numbers of a text in order: two questions that differ in a number are different problems."""
    return tuple(_NUM_RE.findall(text))


def ngrams(tokens: list[str], n: int) -> set[str]:
    """Word n-grams as strings; a text shorter than n gives its whole self (so short texts still match)."""
    if len(tokens) < n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}
