"""Sequential-voting traces: several trials in one thinking block, split by one separator line.

    join_trials(["...So the answer is 4.", "...So the answer is 4."])
    split_trials(thinking)             # -> the trials' texts
    is_extended(thinking)              # -> True when the thinking holds more than one trial

One definition shared by the data stage (ASV-SFT traces), the SV decoder (which appends the
separator when a trial ends without consensus) and budget-aware training (length groups by format).
"""

from __future__ import annotations

SEPARATOR_LINE = "Wait, let me solve it again from the start."
SEPARATOR = f"\n{SEPARATOR_LINE}\n"


def join_trials(trials: list[str]) -> str:
    return SEPARATOR.join(t.strip() for t in trials)


def split_trials(thinking: str) -> list[str]:
    """The trials of a thinking text; lenient about spaces around the separator line."""
    parts, current = [], []
    for line in thinking.splitlines():
        if line.strip() == SEPARATOR_LINE:
            parts.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    parts.append("\n".join(current).strip())
    return [p for p in parts if p]


def is_extended(thinking: str) -> bool:
    return len(split_trials(thinking)) > 1
