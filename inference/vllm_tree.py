"""The strategies' decoder on vLLM: whole-path expansions as token-id rounds, states read on demand.

    tree = VLLMTree.start(source, tokenizer, fmt, backend_args, dtype, state_model=model_args)
    roots = tree.roots(prompts)
    kids = tree.expand([roots[0]] * 8, Expansion(until="done", temperature=0.7), seeds=list(range(8)))
    tree.states(kids)                 # last hidden states, for a value-head verifier (HF forward pass)

It has `inference.tree.TreeDecoder`'s surface and rules for the expansions that sampling-based
strategies use (majority voting, best-of-N, sequential and adaptive voting, budget forcing):
`until="done"` and `until="think_end"`, with `forced` text and `force_answer`. Thinking runs to the
first stop token (first think-end token, end-of-turn, EOS) or the thinking cap; the answer to EOS or
the answer cap; each phase is one vLLM round on the path's token ids (prefix caching re-uses the
path). Step-wise expansion (`until="step"`: beam search, REBASE, the verifier trainer's step states)
is not served: vLLM would re-submit every path at every step, which is what the tree decoder's
copied KV caches exist to avoid. Asking for it raises a ValueError that says so; the verifier
trainer samples whole paths on vLLM and finds the step boundaries afterwards (`step_ends`).

vLLM returns no hidden states, so a value-head verifier's features come from one forward pass of
the same model in transformers over each path (`states`), at the token the tree decoder would have
read them at (`Node.state_at`). Under greedy decoding in fp32 the paths equal the tree decoder's
token for token; sampled paths differ (another random stream), as two seeds would.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from thinkscale.common.chat_format import FormatArgs
from thinkscale.inference.budget import ANSWER, DONE, THINK, TokenDelimiters
from thinkscale.inference.tree import Expansion, Node, root_nodes
from thinkscale.inference.vllm_engine import engine_context, shutdown_llm

STEP_UNSUPPORTED = (
    "step-wise search (beam_search, rebase) and step states expand every path one step at a time from "
    "cached prefixes; on vLLM each step would re-submit every path. Use --backend hf for them"
)


class VLLMTree:
    """Expands Nodes with a vLLM `LLM`; see the module docstring."""

    def __init__(self, llm, tokenizer, fmt: FormatArgs, *, extra_eos: set[int] = frozenset(),
                 max_context: int | None = None, state_reader=None, sampling_params_cls=None):  # fmt: skip
        if sampling_params_cls is None:
            from vllm import SamplingParams as sampling_params_cls
        self.llm, self.tokenizer, self.params_cls = llm, tokenizer, sampling_params_cls
        self.delims = TokenDelimiters.build(tokenizer, fmt, extra_eos=set(extra_eos))
        self.max_context = max_context or engine_context(llm) or 2048
        self._load_state_model, self._state_model = state_reader, None  # loaded on the first states() call

    @classmethod
    def start(cls, source: str, tokenizer, fmt: FormatArgs, backend, dtype: str, state_model=None) -> VLLMTree:
        from thinkscale.inference.backend import start_vllm
        from thinkscale.inference.models import load_model, source_eos_ids

        llm = start_vllm(source, backend, dtype)
        reader = (lambda: load_model(state_model)[0]) if state_model is not None else None
        return cls(llm, tokenizer, fmt, extra_eos=source_eos_ids(source), state_reader=reader)

    def close(self) -> None:
        shutdown_llm(self.llm)

    # ---- the TreeDecoder surface ------------------------------------------------------------
    def roots(self, prompts: list[str]) -> list[Node]:
        return root_nodes(self.tokenizer, prompts, self.max_context)  # nothing to prefill: vLLM caches prefixes

    def expand(self, parents: list[Node], spec: Expansion, seeds: list[int]) -> list[Node]:
        if spec.until == "step":
            raise ValueError(f"--backend vllm: {STEP_UNSUPPORTED}")
        if len(seeds) != len(parents):
            raise ValueError(f"{len(parents)} parents but {len(seeds)} seeds")
        if any(p.done for p in parents):
            raise ValueError("a finished node cannot be expanded")
        kids = [self._start(p, spec) for p in parents]
        rounds = [0] * len(kids)
        thinking = [k for k in range(len(kids)) if kids[k].phase == THINK]
        if thinking:
            outs = self._round([kids[k] for k in thinking], spec, [seeds[k] + 1 for k in thinking], think=True)
            for k, out in zip(thinking, outs, strict=True):
                self._after_thinking(kids[k], out, spec)
                rounds[k] = 1
        answering = [k for k in range(len(kids)) if kids[k].phase == ANSWER]
        if answering:
            outs = self._round([kids[k] for k in answering], spec, [seeds[k] + 1 + rounds[k] for k in answering],
                               think=False)  # fmt: skip
            for k, out in zip(answering, outs, strict=True):
                self._after_answer(kids[k], out, spec)
        return kids

    def text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def prefers(self, prompts: list[str], first: int, second: int) -> tuple[list[bool], list[Node]]:
        """Whether the next token after each prompt is likelier to be `first` than `second` (greedy over
        the two alone: argmax of their logits; on an exact tie vLLM picks the lower id)."""
        nodes = self.roots(prompts)
        params = self.params_cls(max_tokens=1, temperature=0.0, allowed_token_ids=[first, second],
                                 skip_special_tokens=False)  # fmt: skip
        outs = self.llm.generate([{"prompt_token_ids": n.ids} for n in nodes], [params] * len(nodes), use_tqdm=False)
        return [list(o.outputs[0].token_ids)[:1] == [first] for o in outs], nodes

    def state_model(self):
        """The transformers model hidden states are read with (loaded on first use)."""
        if self._state_model is None:
            if self._load_state_model is None:
                raise ValueError("this vLLM tree was started without a model to read hidden states from")
            self._state_model = self._load_state_model()
        return self._state_model

    def states(self, nodes: list[Node]) -> torch.Tensor:
        """Each node's last hidden state (after the final norm) at `state_at`, from a transformers forward pass."""
        return read_states(self.state_model(), [n.ids for n in nodes], [[n.state_at] for n in nodes])[:, 0]

    # ---- one expansion ----------------------------------------------------------------------
    def _start(self, parent: Node, spec: Expansion) -> Node:
        node = replace(parent, ids=list(parent.ids), thinking_ids=list(parent.thinking_ids),
                       answer_ids=list(parent.answer_ids), new_ids=[], end="", kv=None, logits=None, hidden=None)  # fmt: skip
        if spec.forced and node.phase == THINK:
            self._add(node, self.tokenizer.encode(spec.forced, add_special_tokens=False), thinking=True)
        if spec.force_answer and node.phase == THINK:
            self._close(node, forced=True)
        return node

    def _round(self, nodes: list[Node], spec: Expansion, seeds: list[int], think: bool):
        params = []
        for n, seed in zip(nodes, seeds, strict=True):
            if think:  # forced text may already fill the cap: the tree decoder still samples one token then
                budget = max(1, spec.max_thinking_tokens - len(n.thinking_ids))
            else:
                budget = spec.max_answer_tokens - n.answer_sampled
            room = min(budget, self.max_context - len(n.ids))
            if room <= 0:
                raise ValueError(f"a path reached the model's context of {self.max_context} tokens")
            params.append(self.params_cls(
                max_tokens=room, stop_token_ids=sorted(self.delims.think_stop_ids if think else self.delims.eos_ids),
                temperature=spec.temperature if think else spec.answer_temperature, top_p=spec.top_p, seed=seed,
                skip_special_tokens=False))  # fmt: skip
        return [o.outputs[0] for o in self.llm.generate([{"prompt_token_ids": n.ids} for n in nodes], params, use_tqdm=False)]

    def _after_thinking(self, node: Node, out, spec: Expansion) -> None:
        ids = list(out.token_ids)
        stop = ids.pop() if out.finish_reason == "stop" and ids and ids[-1] in self.delims.think_stop_ids else None
        self._add(node, ids, thinking=True)
        if stop is None:
            if len(node.thinking_ids) < spec.max_thinking_tokens:
                raise ValueError(f"a path reached the model's context of {self.max_context} tokens")
            self._close(node, forced=True, cut=True)
        elif spec.until == "think_end":
            node.generated += 1  # sampled, then discarded: compute spent all the same
            node.end, node.state_at = "think_end", len(node.ids) - 1
        else:
            self._close(node, forced=stop != self.delims.think_end_ids[0])

    def _after_answer(self, node: Node, out, spec: Expansion) -> None:
        ids = list(out.token_ids)
        eos = out.finish_reason == "stop" and bool(ids) and ids[-1] in self.delims.eos_ids
        if eos:
            ids.pop()
        node.ids += ids
        node.new_ids += ids
        node.answer_ids += ids
        node.answer_sampled += len(ids)
        node.generated += len(ids) + eos
        if not eos and node.answer_sampled < spec.max_answer_tokens:
            raise ValueError(f"a path reached the model's context of {self.max_context} tokens")
        node.phase, node.end = DONE, "done"
        # The tree decoder reads a state after each fed token; a last answer token cut by the cap is never fed.
        node.state_at = len(node.ids) - (1 if eos else 2)

    def _add(self, node: Node, ids: list[int], thinking: bool = False) -> None:
        node.ids += ids
        node.new_ids += ids
        node.generated += len(ids)
        if thinking:
            node.thinking_ids += ids

    def _close(self, node: Node, forced: bool, cut: bool = False) -> None:
        self._add(node, self.delims.close_ids(node.thinking_ids, cut))
        if forced:
            self._add(node, self.delims.final_prefix_ids)
            node.answer_ids += self.delims.final_prefix_ids
        node.phase = ANSWER


def read_states(model, paths: list[list[int]], positions: list[list[int]]) -> torch.Tensor:
    """Last hidden states (after the final norm, float32) of each path at the given token positions.

    One forward pass per path; positions index the path's tokens. Returns [paths, positions, hidden]
    (every path must ask for the same number of positions)."""
    out = []
    with torch.inference_mode():
        for ids, pos in zip(paths, positions, strict=True):
            x = torch.tensor([ids], device=model.device)
            hidden = model.base_model(input_ids=x, use_cache=False).last_hidden_state[0]
            out.append(hidden[torch.tensor(pos, dtype=torch.long)].float().cpu())
    return torch.stack(out)


def step_ends(tree, node: Node, delimiter: str, max_step_tokens: int, max_thinking_tokens: int) -> list[int]:
    """Where the tree decoder's step-wise expansion would have stopped on this finished path: the index
    of each step's last token (a step ends when its text, leading delimiters stripped, holds the
    delimiter, or at `max_step_tokens`), while thinking lasts."""
    ends, step = [], []
    start = node.prompt_tokens
    for offset, token in enumerate(node.thinking_ids):
        step.append(token)
        if len(step) >= max_step_tokens or delimiter in tree.text(step).lstrip(delimiter):
            ends.append(start + offset)
            step = []
    if len(node.thinking_ids) >= max_thinking_tokens:
        # The token that reaches the thinking cap closes thinking first: that expansion runs on through the answer.
        return [e for e in ends if e < start + len(node.thinking_ids) - 1]
    return ends
