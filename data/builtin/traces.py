"""Teacher reasoning traces for built-in problems: the steps, and sometimes a check or a caught slip.

A share of traces end with "Wait, let me verify: ..." (the problem's own check: substitute back,
recompute another way), and a share make a slip on one computed step and catch it on the next line
("Wait, that's not right: ..."). The fine-tuned model thus sees what a "Wait" is for — checking and
fixing — which is what budget forcing's appended "Wait" relies on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from thinkscale.common.errors import ConfigError
from thinkscale.data.builtin.problem import Problem, Step, fmt


@dataclass(frozen=True)
class TraceStyle:
    verify_rate: float = 0.35  # share of traces that end with a verification
    slip_rate: float = 0.15  # share of traces with one slip caught and fixed

    def __post_init__(self) -> None:
        for name in ("verify_rate", "slip_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1], got {v}")


def _wrong(value, rng: random.Random):
    return value + rng.choice([-2, -1, 1, 2, 10])


def write_trace(problem: Problem, rng: random.Random, style: TraceStyle) -> tuple[str, dict]:
    """The reasoning text and flags {'verified': bool, 'slip': bool} for one problem."""
    lines: list[str] = []
    computed = [i for i, s in enumerate(problem.steps) if isinstance(s, Step)]
    slip_at = rng.choice(computed) if computed and rng.random() < style.slip_rate else None
    for i, step in enumerate(problem.steps):
        if not isinstance(step, Step):
            lines.append(step)
        elif i == slip_at:
            wrong = _wrong(step.value, rng)
            lines.append(step.render(wrong))
            lines.append(f"Wait, that's not right: {step.text} is {fmt(step.value)}, not {fmt(wrong)}.")
        else:
            lines.append(step.render())
    verified = problem.check is not None and rng.random() < style.verify_rate
    if verified:
        lines.append(f"Wait, let me verify: {problem.check}")
    lines.append(f"So the answer is {problem.answer_text}.")
    return "\n".join(lines), {"verified": verified, "slip": slip_at is not None}
