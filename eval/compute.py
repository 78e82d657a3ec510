"""Per-question compute accounting shared by every strategy, and the FLOPs estimate behind the plots.

    c = Compute(); c.generated_tokens += 12; c.model_calls += 1
    flops(c, policy_params=135e6, verifier_params=0)

Counted as our implementation spends it: `prompt_tokens` are prompt tokens encoded (once per
question root: children share their parent's cache, so a path is never re-read); `generated_tokens`
are tokens appended after the prompt, forced delimiters and separators included, on every path
explored, kept or pruned; `model_calls` are generation requests (one per expanded node or
sample); `verifier_calls` are paths scored and `verifier_tokens` the tokens a separate verifier model
had to read (zero for the value head, which reads the policy's own hidden state).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FIELDS = ("generated_tokens", "prompt_tokens", "model_calls", "verifier_calls", "verifier_tokens")


@dataclass
class Compute:
    generated_tokens: int = 0
    prompt_tokens: int = 0
    model_calls: int = 0
    verifier_calls: int = 0
    verifier_tokens: int = 0

    def __iadd__(self, other: Compute) -> Compute:
        for f in FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))
        return self

    def copy(self) -> Compute:
        return Compute(**asdict(self))

    def to_dict(self) -> dict:
        return asdict(self)


def flops(c: Compute | dict, policy_params: float, verifier_params: float = 0.0) -> float:
    """Forward FLOPs, 2 x parameters per token read or written (the usual dense estimate)."""
    d = c if isinstance(c, dict) else c.to_dict()
    return (
        2.0 * policy_params * (d["prompt_tokens"] + d["generated_tokens"])
        + 2.0 * verifier_params * d["verifier_tokens"]
    )
