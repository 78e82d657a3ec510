"""What every strategy receives: the policy, the verifier, the settings, the shared samples and `record`."""

from __future__ import annotations

from collections.abc import Callable

from thinkscale.eval.benchmarks import Item
from thinkscale.eval.strategies.compute import Compute


class Context:
    def __init__(
        self, policy, verifier, args, samples: dict | None = None, on_samples: Callable | None = None
    ):
        self.policy, self.verifier, self.args = policy, verifier, args
        self.samples = samples if samples is not None else {}
        self.on_samples = on_samples

    def save_samples(self, item_id: str, entry: dict) -> None:
        self.samples[item_id] = entry
        if self.on_samples:
            self.on_samples(item_id, entry)

    def record(self, strategy: str, label: str, knob, item: Item, answer: str | None, compute: Compute,
               extra: dict | None = None) -> dict:  # fmt: skip
        return {"strategy": strategy, "label": label, "knob": knob, "id": item.id, "level": item.level,
                "question": item.question, "gold": item.gold, "answer": answer, "correct": self.policy.is_right(answer, item), **compute.to_dict(), **(extra or {})}  # fmt: skip
