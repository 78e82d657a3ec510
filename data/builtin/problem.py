"""The built-in pool's building blocks: a generated problem, its reasoning steps, exact numbers.

A domain module writes one generator per difficulty level, `gen(rng, level) -> Problem`. Every number
in a problem is computed (ints and `Fraction`s), never typed in, so the answer and each step of the
teacher trace are exact. `Problem.params` holds the random draws that fix the problem: the train/test
split is made on them, so a test problem's parameters never occur in training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

Number = int | Fraction


def fmt(x: Number) -> str:
    """An exact number as the trace writes it: 12, -3, 7/4."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


@dataclass(frozen=True)
class Step:
    """One computed line, 'text = value.'; the trace-writer can slip on its value and catch the slip."""

    text: str
    value: Number
    prefix: str = ""

    def render(self, value: Number | None = None) -> str:
        shown = self.value if value is None else value
        return f"{self.prefix}{self.text} = {fmt(shown)}."


@dataclass
class Problem:
    domain: str
    level: int
    params: tuple
    question: str
    steps: list[str | Step]
    answer: Number | str
    check: str | None = None  # a verification the trace can append ("substitute back", "recount")
    meta: dict = field(default_factory=dict)

    @property
    def answer_text(self) -> str:
        return self.answer if isinstance(self.answer, str) else fmt(self.answer)


def pick(rng: random.Random, lo: int, hi: int, exclude: tuple[int, ...] = ()) -> int:
    """A uniform integer in [lo, hi] that is not in `exclude`."""
    while True:
        v = rng.randint(lo, hi)
        if v not in exclude:
            return v


def signed(x: Number) -> str:
    """'+ 3' or '- 3', for writing expressions with a negative term."""
    return f"+ {fmt(x)}" if x >= 0 else f"- {fmt(-x)}"
