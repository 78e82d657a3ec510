"""What every strategy receives: the policy, the verifier, the settings, the shared samples and `record`."""

from __future__ import annotations

from collections.abc import Callable

from thinkscale.eval.benchmarks import Item
from thinkscale.eval.compute import Compute


class Context:
    def __init__(
        self, policy, verifier, args, samples: dict | None = None, on_samples: Callable | None = None
    ):
        self.policy, self.verifier, self.args = policy, verifier, args
        self.samples = samples if samples is not None else {}
        self.on_samples = on_samples

    def score(
        self, questions: list[str], nodes: list, owners: list[int], computes: list[Compute]
    ) -> list[float]:
        """The verifier's score of each node, each owner's compute charged for what was read for it.

        Nodes that are the same path of the same question (equal `reading_key`: greedy beams, samples
        that agree token for token) are read once and share that score: equal paths rank equal by
        construction, where two reads of one path could differ in the last bits (another batch row,
        a prefix-cache hit) and break a tie differently on two backends. The compute charged stays
        the papers' account: each node is charged what its read costs, as if it had been read."""
        first: dict = {}
        group = [first.setdefault((questions[i], nodes[i].reading_key()), i) for i in range(len(nodes))]
        reps = sorted(set(group))
        slot = {i: k for k, i in enumerate(reps)}
        charged = [Compute() for _ in reps]
        values = self.verifier.score(self.policy, [questions[i] for i in reps], [nodes[i] for i in reps],
                                     list(range(len(reps))), charged)  # fmt: skip
        for i, g in enumerate(group):
            computes[owners[i]] += charged[slot[g]]
        return [values[slot[g]] for g in group]

    def save_samples(self, item_id: str, entry: dict) -> None:
        self.samples[item_id] = entry
        if self.on_samples:
            self.on_samples(item_id, entry)

    def record(self, strategy: str, label: str, knob, item: Item, answer: str | None, compute: Compute,
               extra: dict | None = None) -> dict:  # fmt: skip
        return {"strategy": strategy, "label": label, "knob": knob, "id": item.id, "level": item.level,
                "question": item.question, "gold": item.gold, "answer": answer, "correct": self.policy.is_right(answer, item), **compute.to_dict(), **(extra or {})}  # fmt: skip
