"""Pluggable verifiers with one interface: a score in [0, 1] for the newest step of each path.

    verifier = build_verifier("value_head:outputs/verifier/smollm2-135m-s1", policy)   # offline default
    verifier = build_verifier("prm:Qwen/Qwen2.5-Math-PRM-7B", policy)                  # a Hub PRM
    verifier = build_verifier("orm:<sequence-classification model>", policy)          # a Hub ORM
    scores = verifier.score(policy, questions, nodes, owners, computes)

A finished path's score is its outcome score (the value head reads the state after the answer; a
PRM scores every step and the last one counts), so one call serves process search and best-of-N.
"""

from __future__ import annotations

from pathlib import Path

import torch
from thinkscale.eval.strategies.compute import Compute
from thinkscale.eval.verifier.head import ValueHead
from thinkscale.inference.tree import Node


class ValueHeadVerifier:
    """The toolkit's value head on the policy's own hidden state: no second model, no extra tokens."""

    params = 0.0

    def __init__(self, folder: str, policy):
        self.head, self.info = ValueHead.load(Path(folder))
        self.name = f"value_head:{folder}"
        trained_on = str(self.info.get("model", ""))
        if trained_on and Path(trained_on).resolve() != Path(policy.model_path).resolve():
            raise ValueError(
                f"{folder}: the value head reads {trained_on}'s hidden states, but the policy is {policy.model_path};"
                " train a head for this policy (`thinkscale verifier --model ...`)"
            )

    def score(self, policy, questions: list[str], nodes: list[Node], owners: list[int],
              computes: list[Compute]) -> list[float]:  # fmt: skip
        for q in owners:
            computes[q].verifier_calls += 1
        return self.head.prob(policy.states(nodes)).tolist()


class HubPRM:
    """A process reward model in Qwen2.5-Math-PRM's format: steps joined by `<extra_0>`, P(positive) there."""

    SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

    def __init__(self, model_id: str, policy, sep: str = "<extra_0>"):
        from transformers import AutoModel, AutoTokenizer

        self.name, self.sep = f"prm:{model_id}", sep
        self.tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=True)
        self.model = AutoModel.from_pretrained(model_id, dtype="auto", trust_remote_code=True).eval()
        self.params = float(sum(p.numel() for p in self.model.parameters()))
        self.sep_id = self.tokenizer.encode(sep, add_special_tokens=False)[0]

    def _steps(self, policy, node: Node) -> list[str]:
        steps = [s.strip() for s in policy.thinking(node).split(policy.s.step_delimiter) if s.strip()]
        if node.done:
            steps.append(policy.answer_text(node))
        return steps or [""]

    def score(self, policy, questions, nodes, owners, computes) -> list[float]:
        out = []
        for question, node, q in zip(questions, nodes, owners, strict=True):
            messages = [{"role": "system", "content": self.SYSTEM}, {"role": "user", "content": question},
                        {"role": "assistant", "content": self.sep.join(self._steps(policy, node)) + self.sep}]  # fmt: skip
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
            ids = self.tokenizer(text, return_tensors="pt").input_ids.to(self.model.device)
            with torch.inference_mode():
                logits = self.model(input_ids=ids)[0]
            probs = torch.softmax(logits.float(), dim=-1)[0, ids[0] == self.sep_id, 1]
            out.append(float(probs[-1]) if len(probs) else 0.0)
            computes[q].verifier_calls += 1
            computes[q].verifier_tokens += ids.shape[1]
        return out


class HubORM:
    """An outcome reward model: a sequence classifier over (question, solution so far) in its chat format.

    The score is sigmoid(logit) for a one-logit head, else P(last class); a partial path is scored
    as it stands, so it also serves beam search (as an outcome-supervised value estimate)."""

    def __init__(self, model_id: str, policy):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = f"orm:{model_id}"
        self.tokenizer = AutoTokenizer.from_pretrained(model_id)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_id, dtype="auto").eval()
        self.params = float(sum(p.numel() for p in self.model.parameters()))

    def score(self, policy, questions, nodes, owners, computes) -> list[float]:
        out = []
        for question, node, q in zip(questions, nodes, owners, strict=True):
            solution = policy.thinking(node) + ("\n" + policy.answer_text(node) if node.done else "")
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": solution}]
            if getattr(self.tokenizer, "chat_template", None):
                text = self.tokenizer.apply_chat_template(messages, tokenize=False)
            else:
                text = f"{question}\n\n{solution}"
            ids = self.tokenizer(text, return_tensors="pt").input_ids.to(self.model.device)
            with torch.inference_mode():
                logits = self.model(input_ids=ids).logits[0].float()
            out.append(
                float(torch.sigmoid(logits[0]) if logits.numel() == 1 else torch.softmax(logits, -1)[-1])
            )
            computes[q].verifier_calls += 1
            computes[q].verifier_tokens += ids.shape[1]
        return out


def build_verifier(spec: str | None, policy):
    """`value_head:<folder>`, `prm:<hub id or path>`, `orm:<hub id or path>`, or none for no verifier."""
    if not spec or spec == "none":
        return None
    kind, _, where = spec.partition(":")
    if kind == "value_head" and where:
        return ValueHeadVerifier(where, policy)
    if kind == "prm" and where:
        return HubPRM(where, policy)
    if kind == "orm" and where:
        return HubORM(where, policy)
    raise ValueError(
        f"--verifier {spec!r}: expected value_head:<folder>, prm:<model id>, orm:<model id> or none"
    )
