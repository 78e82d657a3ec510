"""Pluggable verifiers with one interface: a score in [0, 1] for the newest step of each path.

    verifier = build_verifier("value_head:outputs/verifier/smollm2-135m-s1", policy)   # offline default
    verifier = build_verifier("prm:Qwen/Qwen2.5-Math-PRM-7B", policy)                  # a Hub PRM
    verifier = build_verifier("prm:Qwen/Qwen2.5-Math-PRM-7B", policy, backend, "auto") # ... on vLLM
    verifier = build_verifier("orm:<sequence-classification model>", policy)          # a Hub ORM
    scores = verifier.score(policy, questions, nodes, owners, computes)

A finished path's score is its outcome score (the value head reads the state after the answer; a
PRM scores every step and the last one counts), so one call serves process search and best-of-N.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from thinkscale.common.errors import ConfigError
from thinkscale.eval.compute import Compute
from thinkscale.eval.verifier.head import ValueHead
from thinkscale.inference.hf.tree import Node


class ValueHeadVerifier:
    """The toolkit's value head on the policy's own hidden state: no second model, no extra tokens."""

    params = 0.0

    def __init__(self, folder: str, policy):
        self.head, self.info = ValueHead.load(Path(folder))
        self.name = f"value_head:{folder}"
        trained_on = str(self.info.get("model", ""))
        if trained_on and Path(trained_on).resolve() != Path(policy.model_path).resolve():
            raise ConfigError(
                f"{folder}: the value head reads {trained_on}'s hidden states, but the policy is {policy.model_path};"
                " train a head for this policy (`thinkscale verifier --model ...`)"
            )

    def score(self, policy, questions: list[str], nodes: list[Node], owners: list[int],
              computes: list[Compute]) -> list[float]:  # fmt: skip
        for q in owners:
            computes[q].verifier_calls += 1
        return self.head.prob(policy.states(nodes)).tolist()


class PRMFormat:
    """What a process reward model in Qwen2.5-Math-PRM's format reads: the question under its system
    prompt, the path's steps joined and ended by `<extra_0>`; its score is P(positive) at the last one."""

    SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

    def _load_tokenizer(self, model_id: str, sep: str) -> None:

        self.sep = sep
        self.tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=True)
        sep_ids = self.tokenizer.encode(sep, add_special_tokens=False)
        if len(sep_ids) != 1:
            raise ConfigError(f"--verifier prm:{model_id}: its tokenizer splits the step separator {sep!r} into "
                             f"{len(sep_ids)} tokens; a PRM in Qwen2.5-Math-PRM's format has it as one")  # fmt: skip
        self.sep_id = sep_ids[0]

    def _steps(self, policy, node: Node) -> list[str]:
        steps = [s.strip() for s in policy.thinking(node).split(policy.s.step_delimiter) if s.strip()]
        if node.done:
            steps.append(policy.answer_text(node))
        return steps or [""]

    def path_ids(self, policy, questions: list[str], nodes: list[Node]) -> list[list[int]]:
        """Each path as the PRM reads it (its chat template, every step closed by the separator)."""
        texts = []
        for question, node in zip(questions, nodes, strict=True):
            messages = [{"role": "system", "content": self.SYSTEM}, {"role": "user", "content": question},
                        {"role": "assistant", "content": self.sep.join(self._steps(policy, node)) + self.sep}]  # fmt: skip
            texts.append(
                self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
            )
        return [self.tokenizer(t).input_ids for t in texts]

    def up_to_last_step(self, row: list[int]) -> list[int]:
        """A path's ids up to its last separator (every path read has one: its steps end with it). A
        causal PRM's score there depends on these alone: the tokens a forward pass needs."""
        return row[: len(row) - row[::-1].index(self.sep_id)]


class HubPRM(PRMFormat):
    """A PRM in transformers (`AutoModel`, its own code from the Hub), a depth's paths in padded batches."""

    def __init__(self, model_id: str, policy, sep: str = "<extra_0>", batch_size: int = 8):

        self._load_tokenizer(model_id, sep)
        self.name = f"prm:{model_id}"
        self.model = AutoModel.from_pretrained(model_id, dtype="auto", trust_remote_code=True).eval()
        self.params = float(sum(p.numel() for p in self.model.parameters()))
        self.batch_size, self.pad_id = batch_size, pad_id_of(self.tokenizer)

    def score(self, policy, questions, nodes, owners, computes) -> list[float]:
        ids = self.path_ids(policy, questions, nodes)
        heads = [self.up_to_last_step(row) for row in ids]

        def last_step(out, r, i):  # P(positive) at the last separator of path i (row r of the batch)
            return float(torch.softmax(out[0][r, len(heads[i]) - 1].float(), dim=-1)[1])

        out = forward_batches(self.model, heads, self.batch_size, self.pad_id, last_step)
        charge(computes, owners, ids)
        return out


class HubORM:
    """An outcome reward model: a sequence classifier over (question, solution so far) in its chat format.

    The score is sigmoid(logit) for a one-logit head, else P(last class); a partial path is scored
    as it stands, so it also serves beam search (as an outcome-supervised value estimate)."""

    def __init__(self, model_id: str, policy, batch_size: int = 8):

        self.name = f"orm:{model_id}"
        self.tokenizer = AutoTokenizer.from_pretrained(model_id)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_id, dtype="auto").eval()
        self.params = float(sum(p.numel() for p in self.model.parameters()))
        self.batch_size, self.pad_id = batch_size, pad_id_of(self.tokenizer)
        if self.model.config.pad_token_id is None:  # it pools the last token before the padding
            self.model.config.pad_token_id = self.pad_id

    def score(self, policy, questions, nodes, owners, computes) -> list[float]:
        ids = []
        for question, node in zip(questions, nodes, strict=True):
            solution = policy.thinking(node) + ("\n" + policy.answer_text(node) if node.done else "")
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": solution}]
            if getattr(self.tokenizer, "chat_template", None):
                text = self.tokenizer.apply_chat_template(messages, tokenize=False)
            else:
                text = f"{question}\n\n{solution}"
            ids.append(self.tokenizer(text).input_ids)

        def outcome(out, r, i):
            logits = out.logits[r].float()
            return float(torch.sigmoid(logits[0]) if logits.numel() == 1 else torch.softmax(logits, -1)[-1])

        out = forward_batches(self.model, ids, self.batch_size, self.pad_id, outcome)
        charge(computes, owners, ids)
        return out


def forward_batches(model, ids: list[list[int]], batch_size: int, pad_id: int, read) -> list:
    """`read(output, row, i)` for each token list `ids[i]` (row `row` of the batch it ran in), the lists
    run `batch_size` at a time, similar lengths together, right-padded with an attention mask (a causal
    model's outputs before the padding do not see it; a sequence classifier pools the last non-pad
    token). Results in input order."""
    out: list = [None] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(ids[i]) for i in batch)
            x = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                x[r, : len(ids[i])], mask[r, : len(ids[i])] = torch.tensor(ids[i]), 1
            result = model(input_ids=x.to(model.device), attention_mask=mask.to(model.device))
            for r, i in enumerate(batch):
                out[i] = read(result, r, i)
    return out


def charge(computes: list[Compute], owners: list[int], ids: list[list[int]]) -> None:
    for q, row in zip(owners, ids, strict=True):
        computes[q].verifier_calls += 1
        computes[q].verifier_tokens += len(row)


def pad_id_of(tokenizer) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0
