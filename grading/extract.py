"""Answer extraction: find the final answer inside a model's answer text.

    from thinkscale.grading.extract import extract_answer
    extract_answer("so the area is \\boxed{\\frac{3}{4}}.")   # -> "\\frac{3}{4}"
    extract_answer("Final Answer: 42")                         # -> "42"
    extract_answer("(C) is right", choices="ABCD")             # -> "C"

Order of preference, the one graders of this field use: the last `\\boxed{...}` / `\\fbox{...}` (braces
matched, so nested fractions survive), then the text after the last "Final Answer:" or "Answer:"
(first line, trailing period dropped), then the last number in the text. With `choices` (GPQA-style
multiple choice) the answer is a single letter, taken only where it is stated as the answer: a
`\\boxed{B}`, a letter standing alone right after a marker ("Answer: (B)", "the answer is B.",
"the correct option is C"), a bracketed "(C)", or a response that is just the letter. A letter
inside prose never counts: "at point D" is not an answer, nor is the article in "Answer: A force".
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


# "Answer:", "the answer is", "correct option is", "choice:", a "**Final Answer**" heading on its own
# line ... followed by the stated letter.
_CHOICE_MARKER_RE = re.compile(
    r"\b(?:answer|option|choice)\s*(?:\*\*)?\s*(?:[:：]|is\b:?|\n)\s*", re.IGNORECASE
)


def _letter_alone(text: str, letters: str) -> str | None:
    """The letter `text` starts with, when it stands alone: "B", "(B)", "B.", "**B**", "B) 4 N"; not
    "A force" (an article) nor "Bx"."""
    m = re.match(rf"[*\s$]*(?:\\text\{{)?\(?([{letters}])\)?\}}?[*$]*(?=$|[\s.,;:!)\]]|\))", text)
    if not m:
        return None
    rest = text[m.end() :]
    # "A force of 5 N": the article "A" (or "I") followed by a lower-case word is prose, unless it is
    # bracketed as "(A) force" or a reason follows ("A because ..."); "B because ..." is an answer.
    if (m.group(1) in "AI" and not m.group(0).strip("*$ ").startswith("(") and re.match(r"\s+[a-z]", rest)
            and not re.match(r"\s+(?:because|since|as)\b", rest)):  # fmt: skip
        return None
    return m.group(1)


def extract_choice(text: str, choices: str = "ABCD") -> str | None:
    """The multiple-choice letter a response states as its answer (None when it states none)."""
    letters = re.escape(choices)
    boxed = last_boxed(text)
    if boxed is not None and (found := _letter_alone(boxed, letters)):
        return found
    for m in reversed(list(_CHOICE_MARKER_RE.finditer(text))):
        if found := _letter_alone(text[m.end() :], letters):
            return found
    bracketed = re.findall(rf"\(([{letters}])\)", text)
    if bracketed:
        return bracketed[-1]
    return _letter_alone(text.strip(), letters) if len(text.strip()) <= 12 else None


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
