"""The strategies' decoder on vLLM: expansions as token-id rounds, every strategy, states read on demand.

    tree = VLLMTree.start(source, tokenizer, fmt, backend_args, dtype, state_model=model_args)
    roots = tree.roots(prompts)
    steps = tree.expand([roots[0]] * 8, Expansion(until="step", temperature=0.7), seeds=list(range(8)))
    kids = tree.expand(steps, Expansion(until="done"), seeds=list(range(8)))
    tree.states(kids)                 # last hidden states, for a value-head verifier
    tree.work.to_dict()               # what vLLM did: requests, prompt tokens, prefix-cache hits, ...

It has `inference.hf.tree.TreeDecoder`'s surface and rules for every expansion the strategies use:
`until="step"` (beam search, REBASE), `"think_end"` (sequential voting), `"done"`, with `forced` text
and `force_answer`. A path is its token ids: each round submits them as they are (`prompt_token_ids`,
nothing decoded and re-encoded) for every path of the call in one `generate`, and the engine's prefix
cache serves what an earlier round of the path already computed (search-and-learn, REBASE on SGLang's
radix cache and vLLM's own `LLM.beam_search` resubmit paths the same way). Thinking is one round per
expansion: vLLM stops at a stop token, at the thinking cap, at the step cap or at the step delimiter
(a stop string: an early exit only); the tokens it returned are then cut by the tree decoder's own
rule (`inference.forcing.steps.thinking_cut`) — tokens past the cut are discarded (`overshoot_tokens`), and
where vLLM stopped before the rule did (a step that begins with the delimiter) the path goes on in
another round. A path whose thinking ended then gets one answer round. Under a confidence stop (DeepConf online,
`Expansion.stop_below`) thinking runs in rounds of at most `CONFIDENCE_ROUND` tokens, each cut where
the rule finds the first window below the threshold: the stop falls on the tree decoder's token. Under greedy decoding in fp32
every node equals the tree decoder's, token for token; sampled paths differ (another random stream),
as two seeds would.

The compute the strategies count (`eval.compute`) is the same on both backends; what the
engine did besides — resubmitted prompt tokens, the part the prefix cache served, the part computed
once already on the path and computed again (`reprefilled_tokens`: a partial cache block, the last
sampled token), overshoot, preemptions (counted by vLLM only with its log stats on), wall time —
accumulates in `work`.

vLLM's generate returns no hidden states, so a value-head verifier's features (`states`, at the token
the tree decoder read them at, `Node.state_at`) come from a second vLLM instance of the policy in
pooling mode (`--vllm-states pooling`, the default: last-token states, its own prefix cache, so a
depth reads only the tokens its paths added) or from a batched forward pass in transformers
(`--vllm-states transformers`, no second engine). The verifier trainer reads states at many tokens
of a path and always uses transformers (`read_states`).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import asdict, dataclass, fields, replace

import torch

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.errors import ConfigError
from thinkscale.inference.forcing.budget import ANSWER, DONE, THINK, TokenDelimiters
from thinkscale.inference.forcing.steps import CAP, LOW, STOP, confidence_from_logprobs, thinking_cut
from thinkscale.inference.hf.tree import Expansion, Node, root_nodes
from thinkscale.inference.models.load import load_model, source_eos_ids
from thinkscale.inference.vllm.engine import engine_context
from thinkscale.inference.vllm.launch import start_vllm
from thinkscale.inference.vllm.process import shutdown_llm

CONFIDENCE_ROUND = 256  # tokens per thinking round under a confidence stop (at most this many overshoot)


@dataclass
class EngineWork:
    """What the engine did for a run's expansions (beside the compute a paper counts)."""

    calls: int = 0  # generate calls
    requests: int = 0  # paths submitted
    prompt_tokens: int = 0  # tokens submitted as prompts (a path is resubmitted whole each round)
    cached_tokens: int = 0  # of those, read from the prefix cache (vLLM's num_cached_tokens)
    reprefilled_tokens: int = 0  # of those, computed on the path before and computed again
    overshoot_tokens: int = 0  # generated past the step rule's cut, discarded
    preemptions: int | None = None  # vLLM reports them only with log stats on (`start` turns them on)
    wall_s: float = 0.0
    state_tokens: int = 0  # tokens submitted to the pooling instance that reads a value head's states
    state_cached_tokens: int = 0  # of those, read from its prefix cache
    state_wall_s: float = 0.0
    prm_tokens: int = 0  # tokens submitted to a PRM's vLLM instance (`eval.verifier.vllm_prm`)
    prm_cached_tokens: int = 0  # of those, read from its prefix cache
    prm_wall_s: float = 0.0

    def minus(self, before: EngineWork) -> EngineWork:
        out = EngineWork()
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(before, f.name)
            setattr(out, f.name, None if a is None else a - (b or 0))
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("wall_s", "state_wall_s", "prm_wall_s"):
            d[key] = round(d[key], 3)
        d["cache_hit_rate"] = (
            round(self.cached_tokens / self.prompt_tokens, 4) if self.prompt_tokens else None
        )
        return d


class VLLMTree:
    """Expands Nodes with a vLLM `LLM`; see the module docstring."""

    def __init__(self, llm, tokenizer, fmt: FormatArgs, *, extra_eos: set[int] = frozenset(),
                 max_context: int | None = None, state_reader=None, pooler_starter=None,
                 sampling_params_cls=None):  # fmt: skip
        if sampling_params_cls is None:
            from vllm import SamplingParams as sampling_params_cls
        self.llm, self.tokenizer, self.params_cls = llm, tokenizer, sampling_params_cls
        self.delims = TokenDelimiters.build(tokenizer, fmt, extra_eos=set(extra_eos))
        self.max_context = max_context or engine_context(llm) or 2048
        self._load_state_model, self._state_model = state_reader, None  # loaded on the first states() call
        self._start_pooler, self._pooler = pooler_starter, None  # or a pooling instance, started likewise
        self.work = EngineWork()
        # How many leading ids of a node the engine has computed on its path (roots: none), so that a
        # resubmission's re-prefilled tokens can be told from tokens it reads for the first time.
        self._computed: weakref.WeakKeyDictionary[Node, int] = weakref.WeakKeyDictionary()

    @classmethod
    def start(
        cls, source: str, tokenizer, fmt: FormatArgs, backend, dtype: str, state_model=None
    ) -> VLLMTree:
        """`state_model` (ModelArgs): states will be read, by a pooling instance of `source` or by that
        model in transformers, as `backend.vllm_states` says."""

        llm = start_vllm(source, backend, dtype, engine_stats=True)  # per-request preemptions for `work`
        reader = pooler = None
        if (
            state_model is not None
        ):  # the transformers model also serves the verifier trainer's many positions
            reader = lambda: load_model(state_model)[0]  # noqa: E731
            if backend.vllm_states == "pooling":
                pooler = lambda: start_vllm(source, backend, dtype, pooling="states")  # noqa: E731
        return cls(
            llm, tokenizer, fmt, extra_eos=source_eos_ids(source), state_reader=reader, pooler_starter=pooler
        )

    def close(self) -> None:
        shutdown_llm(self.llm)
        if self._pooler is not None:
            shutdown_llm(self._pooler)

    # ---- the TreeDecoder surface ------------------------------------------------------------
    def roots(self, prompts: list[str]) -> list[Node]:
        return root_nodes(
            self.tokenizer, prompts, self.max_context
        )  # nothing to prefill: vLLM caches prefixes

    def expand(self, parents: list[Node], spec: Expansion, seeds: list[int]) -> list[Node]:
        if len(seeds) != len(parents):
            raise ConfigError(f"{len(parents)} parents but {len(seeds)} seeds")
        if any(p.done for p in parents):
            raise ConfigError("a finished node cannot be expanded")
        kids = [self._start(p, spec) for p in parents]
        rounds = self._think(kids, spec, seeds)
        answering = [k for k in range(len(kids)) if kids[k].phase == ANSWER]
        if answering:
            outs = self._generate([kids[k] for k in answering], [self._answer_params(kids[k], spec, seeds[k] + 1 + rounds[k])
                                                                 for k in answering])  # fmt: skip
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
        outs = self._generate(nodes, [params] * len(nodes))
        return [list(o.token_ids)[:1] == [first] for o in outs], nodes

    def state_model(self):
        """The transformers model hidden states are read with (loaded on first use)."""
        if self._state_model is None:
            if self._load_state_model is None:
                raise ConfigError("this vLLM tree was started without a model to read hidden states from")
            self._state_model = self._load_state_model()
        return self._state_model

    def states(self, nodes: list[Node]) -> torch.Tensor:
        """Each node's last hidden state (after the final norm) at `state_at`: the pooling instance's
        last-token state of the path up to there (one `embed` call for all nodes, prefix-cached), or a
        batched transformers forward pass."""
        if self._start_pooler is None:
            return read_states(self.state_model(), [n.ids for n in nodes], [[n.state_at] for n in nodes])[
                :, 0
            ]
        if self._pooler is None:
            self._pooler = self._start_pooler()
        t0 = time.perf_counter()
        outs = self._pooler.embed(
            [{"prompt_token_ids": n.ids[: n.state_at + 1]} for n in nodes], use_tqdm=False
        )
        self.work.state_wall_s += time.perf_counter() - t0
        for n, o in zip(nodes, outs, strict=True):
            self.work.state_tokens += n.state_at + 1
            self.work.state_cached_tokens += o.num_cached_tokens or 0
        return torch.stack([torch.as_tensor(o.outputs.embedding, dtype=torch.float32) for o in outs])

    # ---- one expansion ----------------------------------------------------------------------
    def _start(self, parent: Node, spec: Expansion) -> Node:
        node = replace(parent, ids=list(parent.ids), thinking_ids=list(parent.thinking_ids),
                       answer_ids=list(parent.answer_ids), new_ids=[], end="", kv=None, logits=None, hidden=None,
                       confs=list(parent.confs))  # fmt: skip
        self._computed[node] = self._computed.get(parent, 0)
        if spec.forced and node.phase == THINK:
            self._add(node, self.tokenizer.encode(spec.forced, add_special_tokens=False), thinking=True)
        if spec.force_answer and node.phase == THINK:
            self._close(node, forced=True)
        return node

    def _think(self, kids: list[Node], spec: Expansion, seeds: list[int]) -> list[int]:
        """Thinking rounds for every kid still thinking, until the step rule cuts each; returns the
        rounds each kid took (the answer round's seed follows them)."""
        rounds = [0] * len(kids)
        steps: list[list[int]] = [[] for _ in kids]  # the tokens each kid's current step has sampled
        active = [k for k in range(len(kids)) if kids[k].phase == THINK]
        while active:
            params = [self._think_params(kids[k], spec, steps[k], seeds[k] + 1 + rounds[k]) for k in active]
            outs = self._generate([kids[k] for k in active], params)
            again = []
            for k, out in zip(active, outs, strict=True):
                rounds[k] += 1
                if not self._after_thinking(kids[k], out, spec, steps[k]):
                    # vLLM stopped at a delimiter the rule does not count, or at the end of a confidence
                    # round: thinking goes on (a path that filled the context is refused by `_room`)
                    again.append(k)
            active = again
        return rounds

    def _think_params(self, node: Node, spec: Expansion, step: list[int], seed: int):
        # forced text may already fill the cap: the tree decoder still samples one token then
        budget = max(1, spec.max_thinking_tokens - len(node.thinking_ids))
        if spec.until == "step":
            budget = min(budget, spec.max_step_tokens - len(step))
        if spec.stop_below is not None:  # the rule finds the stop: rounds bound what vLLM runs past it
            budget = min(budget, CONFIDENCE_ROUND)
        return self.params_cls(
            max_tokens=self._room(node, budget), stop_token_ids=sorted(self.delims.think_stop_ids),
            stop=[spec.step_delimiter] if spec.until == "step" else None,
            temperature=spec.temperature, top_p=spec.top_p, seed=seed, skip_special_tokens=False,
            logprobs=spec.confidence_k or None)  # fmt: skip

    def _answer_params(self, node: Node, spec: Expansion, seed: int):
        return self.params_cls(
            max_tokens=self._room(node, spec.max_answer_tokens - node.answer_sampled),
            stop_token_ids=sorted(self.delims.eos_ids), temperature=spec.answer_temperature, top_p=spec.top_p,
            seed=seed, skip_special_tokens=False, logprobs=spec.confidence_k or None)  # fmt: skip

    def _room(self, node: Node, budget: int) -> int:
        room = min(budget, self.max_context - len(node.ids))
        if room <= 0:
            raise ConfigError(f"a path reached the model's context of {self.max_context} tokens")
        return room

    def _after_thinking(self, node: Node, out, spec: Expansion, step: list[int]) -> bool:
        """Apply the step rule to a thinking round's tokens; True when it cut (the round is over)."""
        tokens, reason, used = list(out.token_ids), "", 0
        for i, token in enumerate(tokens):
            used += 1
            if spec.confidence_k:
                node.confs.append(confidence_from_logprobs(out.logprobs[i], spec.confidence_k))
            reason = thinking_cut(token, len(node.thinking_ids), step, spec, self.delims.think_stop_ids, self.text,
                                  node.confs)  # fmt: skip
            if reason == STOP:
                break
            self._add(node, [token], thinking=True)
            step.append(token)
            if reason:
                break
        self.work.overshoot_tokens += len(tokens) - used
        # Every kept token but a last one was fed back to the engine (it sampled the next from it).
        self._computed[node] = len(node.ids) - (used == len(tokens) and reason != STOP)
        if reason == STOP:
            stop = tokens[used - 1]
            if spec.until == "think_end":
                node.generated += 1  # sampled, then discarded: compute spent all the same
                node.end, node.state_at = "think_end", len(node.ids) - 1
            else:
                self._close(node, forced=stop != self.delims.think_end_ids[0])
        elif reason == LOW:  # abandoned, unanswered; the tree decoder reads no state after the last token
            node.phase, node.end, node.state_at = DONE, LOW, len(node.ids) - 2
        elif reason == CAP:
            self._close(node, forced=True, cut=True)
        elif reason:  # a step ended
            node.end, node.state_at = reason, len(node.ids) - 1
        return bool(reason)

    def _after_answer(self, node: Node, out, spec: Expansion) -> None:
        ids = list(out.token_ids)
        if spec.confidence_k:
            node.confs += [confidence_from_logprobs(e, spec.confidence_k) for e in out.logprobs]
        eos = out.finish_reason == "stop" and bool(ids) and ids[-1] in self.delims.eos_ids
        if eos:
            ids.pop()
        node.ids += ids
        node.new_ids += ids
        node.answer_ids += ids
        node.answer_sampled += len(ids)
        node.generated += len(ids) + eos
        if not eos and node.answer_sampled < spec.max_answer_tokens:
            raise ConfigError(f"a path reached the model's context of {self.max_context} tokens")
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

    # ---- the engine -------------------------------------------------------------------------
    def _generate(self, nodes: list[Node], params: list) -> list:
        """One generate call for `nodes` (paths as token ids), its work added to `self.work`."""
        t0 = time.perf_counter()
        outs = self.llm.generate([{"prompt_token_ids": n.ids} for n in nodes], params, use_tqdm=False)
        w = self.work
        w.calls += 1
        w.wall_s += time.perf_counter() - t0
        for n, o in zip(nodes, outs, strict=True):
            submitted, cached = len(n.ids), o.num_cached_tokens or 0
            w.requests += 1
            w.prompt_tokens += submitted
            w.cached_tokens += cached
            w.reprefilled_tokens += max(0, min(self._computed.get(n, 0), submitted) - cached)
            stats = getattr(o, "metrics", None)
            if stats is not None and getattr(stats, "num_preemptions", None) is not None:
                w.preemptions = (w.preemptions or 0) + stats.num_preemptions
        return [o.outputs[0] for o in outs]


def read_states(
    model, paths: list[list[int]], positions: list[list[int]], batch_size: int = 16
) -> torch.Tensor:
    """Last hidden states (after the final norm, float32) of each path at the given token positions.

    Paths are read `batch_size` at a time, similar lengths together and right-padded (a causal model's
    states before the padding do not see it); positions index the path's tokens. Returns [paths,
    positions, hidden] (every path must ask for the same number of positions)."""
    out: list[torch.Tensor | None] = [None] * len(paths)
    order = sorted(range(len(paths)), key=lambda i: len(paths[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(paths[i]) for i in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                ids[r, : len(paths[i])], mask[r, : len(paths[i])] = torch.tensor(paths[i]), 1
            hidden = model.base_model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                                      use_cache=False).last_hidden_state  # fmt: skip
            for r, i in enumerate(batch):
                out[i] = hidden[r, torch.tensor(positions[i], dtype=torch.long)].float().cpu()
    return torch.stack(out)  # type: ignore[arg-type]


def step_ends(tree, node: Node, delimiter: str, max_step_tokens: int, max_thinking_tokens: int) -> list[int]:
    """Where the tree decoder's step-wise expansion would have stopped on this finished path: the index
    of each step's last token by the step rule (`inference.forcing.steps.thinking_cut`), while thinking lasts."""
    spec = Expansion(until="step", step_delimiter=delimiter, max_step_tokens=max_step_tokens,
                     max_thinking_tokens=max_thinking_tokens)  # fmt: skip
    ends, step = [], []
    for offset, token in enumerate(node.thinking_ids):
        reason = thinking_cut(token, offset, step, spec, (), tree.text)
        if reason == CAP:  # the token at the cap closes thinking: that expansion runs on through the answer
            break
        step.append(token)
        if reason:
            ends.append(node.prompt_tokens + offset)
            step = []
    return ends
