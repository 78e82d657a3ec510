"""A scripted policy and verifier with the strategies' call surface, for testing strategy logic.

Every node records its question, depth and the seed that made it; `value(node)` (the fake
verifier's score) and the answers come from functions the test passes, so a test knows exactly which
path each strategy should pick and how much compute it should charge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from thinkscale.eval.benchmarks import Item
from thinkscale.eval.strategies.args import StrategyArgs
from thinkscale.eval.strategies.context import Context

STEP_TOKENS = 5


@dataclass(eq=False)
class FakeNode:
    q: int
    depth: int = 0
    trials: int = 0
    done: bool = False
    generated: int = 0
    text: str = ""
    answer: str | None = None
    path: tuple = field(default_factory=tuple)  # seeds along the path
    confs: list = field(default_factory=list)  # token confidences (DeepConf): none unless a test sets them
    end: str = ""

    def reading_key(self) -> tuple:
        return (id(self),)  # every fake node its own path: verifier calls counted per node


class FakePolicy:
    def __init__(self, trial_answers=None, depth=3, answer_of=None, easy=None):
        self.trial_answers, self.depth = trial_answers or {}, depth
        self.answer_of = answer_of or (lambda node: f"a{node.path[-1] % 3}")
        self.easy = easy or {}
        self.s = SimpleNamespace(max_thinking_tokens=100)  # the shared settings strategies read
        self.thinking_caps = []  # max_thinking_tokens overrides passed to expand

    def roots(self, items, computes=None, extra=None):
        for c in computes or []:
            c.prompt_tokens += 10
        return [FakeNode(q=q) for q in range(len(items))]

    def judge_easy(self, items, computes):
        for c in computes:
            c.prompt_tokens += 12
            c.model_calls += 1
        return [self.easy.get(q, False) for q in range(len(items))]

    def expand(self, parents, owners, computes, until, seeds, forced="", force_answer=False, **kw):
        if "max_thinking_tokens" in kw:
            self.thinking_caps.append(kw["max_thinking_tokens"])
        kids = []
        for p, q, seed in zip(parents, owners, seeds, strict=True):
            assert not p.done
            if until == "think_end":
                ans = self.trial_answers[p.q][p.trials]
                kid = FakeNode(p.q, trials=p.trials + 1, text=f"so the answer is {ans}", done=ans == "CAP",
                               answer=ans, path=p.path + (seed,))  # fmt: skip
            else:
                depth = p.depth + 1
                done = until == "done" or force_answer or depth >= self.depth
                kid = FakeNode(p.q, depth=depth, done=done, path=p.path + (seed,))
                kid.answer = self.answer_of(kid) if done else None
            kid.generated = p.generated + STEP_TOKENS
            computes[q].generated_tokens += STEP_TOKENS
            computes[q].model_calls += 1
            kids.append(kid)
        return kids

    def step_text(self, node):
        return node.text

    def answer_text(self, node):
        return f"Answer: {node.answer}"

    def answer(self, node, choices=None):
        return node.answer

    def is_right(self, answer, item):
        return answer == item.gold


class FakeVerifier:
    params = 0.0

    def __init__(self, value):
        self.value, self.calls = value, 0

    def score(self, policy, questions, nodes, owners, computes):
        for q in owners:
            computes[q].verifier_calls += 1
        self.calls += len(nodes)
        return [self.value(n) for n in nodes]


def items(n: int, gold: str = "a0") -> list[Item]:
    return [Item(id=f"q{i}", question=f"question {i}", gold=gold, level=1) for i in range(n)]


def context(policy, verifier=None, **args) -> Context:
    return Context(policy, verifier, StrategyArgs(**args))
