"""Answer extraction: find the final answer inside a model's answer text.

    from grading.extract import extract_answer
    extract_answer("so the area is \\boxed{\\frac{3}{4}}.")   # -> "\\frac{3}{4}"
    extract_answer("Final Answer: 42")                         # -> "42"
    extract_answer("(C) is right", choices="ABCD")             # -> "C"

Order of preference, the one graders of this field use: the last `\\boxed{...}` / `\\fbox{...}` (braces
matched, so nested fractions survive), then the text after the last "Final Answer:" or "Answer:"
(first line, trailing period dropped), then the last number in the text. With `choices` (GPQA-style
multiple choice) the answer is a single letter: "Answer: (B)", "\\boxed{B}", "the answer is B".
"""

from __future__ import annotations

import re

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_RE = re.compile(r"\banswer\s*(?:[:：]|is\b:?)\s*", re.IGNORECASE)
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` with its braces matched; None when there is none or it is unclosed."""
    starts = [m.end() for m in _BOXED_RE.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
    return None


def _after_answer_marker(text: str) -> str | None:
    matches = list(_ANSWER_RE.finditer(text))
    for m in reversed(matches):
        rest = text[m.end() :].strip()
        if rest:
            line = rest.splitlines()[0].strip()
            return line[:-1].strip() if line.endswith(".") and not line.endswith("..") else line
    return None


def last_number(text: str) -> str | None:
    """The last number in the text (thousands separators removed), or None."""
    found = _NUMBER_RE.findall(text)
    return found[-1].replace(",", "") if found else None


def extract_choice(text: str, choices: str = "ABCD") -> str | None:
    """A multiple-choice letter: from \\boxed{}, an answer marker, or the last standalone letter."""
    letters = re.escape(choices)
    for candidate in (last_boxed(text), _after_answer_marker(text)):
        if candidate:
            m = re.search(rf"\(?\b([{letters}])\b\)?", candidate)
            if m:
                return m.group(1)
    found = re.findall(rf"(?<![A-Za-z])\(?([{letters}])\)?(?![A-Za-z])", text)
    return found[-1] if found else None


def extract_answer(text: str, choices: str | None = None) -> str | None:
    """The final answer in `text` (None when nothing answer-like is there)."""
    if not text or not text.strip():
        return None
    if choices:
        return extract_choice(text, choices)
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    marked = _after_answer_marker(text)
    if marked:
        inner = last_boxed(marked)
        return inner if inner is not None else marked
    return last_number(text)
