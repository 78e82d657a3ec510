"""Step-wise decoding from cached prefixes: the primitive behind sampling, voting, beam search and REBASE.

    tree = TreeDecoder(model, tokenizer, fmt, batch_size=32)
    roots = tree.roots([prompt_a, prompt_b])                    # one prefill per question
    steps = tree.expand([roots[0]] * 4, Expansion(until="step", temperature=0.7), seeds=[0, 1, 2, 3])
    done = tree.expand(steps, Expansion(until="done"), seeds=[4, 5, 6, 7])

A `Node` is a decoded prefix: its token ids, its KV cache (per layer, [kv_heads, length, head_dim]),
the next-token logits and the last hidden state after the final norm (the feature a value head
reads). Expanding never re-encodes a prefix: children start from copies of their parent's cache, so
N candidates of one step cost the tokens they add, not N re-reads of question and path (on a 2-core
CPU that is the difference between minutes and hours for a beam search).

Budget rules are `inference.forcing.budget`'s, and where thinking stops is `inference.forcing.steps.thinking_cut`
(the rule the vLLM tree applies too): thinking ends when the model samples the first token of the
think-end delimiter (the whole delimiter is appended) or end-of-turn/EOS (delimiter and final-answer
prefix appended), or at `max_thinking_tokens` (a newline if the line is open, delimiter and
final-answer prefix forced). An expansion stops at the first of:
- `until="step"`: the text since the expansion began contains `step_delimiter` (or reaches
  `max_step_tokens`); a path whose thinking ends in this step runs on through its answer;
- `until="think_end"`: the model tries to end thinking; the stop token is discarded and the node
  stays in the thinking phase (sequential voting appends its trial separator here);
- `until="done"` (and every mode): the answer is finished (end-of-turn or `max_answer_tokens`);
- with `stop_below` (DeepConf's online stop): the last `conf_window` thinking tokens' mean confidence
  fell below it; the path ends there, unanswered (`end="low_confidence"`).
With `confidence_k` > 0 every sampled token's confidence (`inference.forcing.steps.token_confidence`) is kept
in `Node.confs`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import torch

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.errors import ConfigError
from thinkscale.inference.forcing.budget import ANSWER, DONE, MAX_ANSWER_TOKENS, THINK, TokenDelimiters
from thinkscale.inference.forcing.steps import CAP, LOW, STOP, thinking_cut, token_confidence
from thinkscale.inference.hf.engine import left_pad, model_eos_ids
from thinkscale.inference.hf.kv_cache import GrowingCache
from thinkscale.inference.hf.sampling import make_generator, sample_row

UNTIL = ("step", "think_end", "done")


@dataclass(frozen=True)
class Expansion:
    """How far one expansion decodes, and how it samples."""

    until: str = "done"
    step_delimiter: str = "\n\n"
    max_step_tokens: int = 128
    max_thinking_tokens: int = 512
    max_answer_tokens: int = MAX_ANSWER_TOKENS
    temperature: float = 0.0
    answer_temperature: float = 0.0
    top_p: float = 1.0
    forced: str = ""  # text fed before sampling (counts as thinking), e.g. a trial separator
    force_answer: bool = False  # close thinking at once and decode the answer
    confidence_k: int = 0  # > 0: record each sampled token's confidence from its top-k log-probabilities
    conf_window: int = 2048  # tokens in a confidence window (DeepConf's group)
    stop_below: float | None = None  # end a path whose last full window's mean confidence falls below this

    def __post_init__(self) -> None:
        if self.until not in UNTIL:
            raise ConfigError(f"until must be one of {UNTIL}, got {self.until!r}")
        if self.until == "step" and not self.step_delimiter:
            raise ConfigError("--step-delimiter must be a non-empty string")
        for name in ("max_step_tokens", "max_thinking_tokens", "max_answer_tokens", "conf_window"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        if self.confidence_k < 0 or (self.stop_below is not None and not self.confidence_k):
            raise ConfigError(
                "a confidence stop needs confidence_k > 0 (the top-k log-probabilities it reads)"
            )


@dataclass(eq=False)
class Node:
    """A decoded prefix. `new_ids` are the tokens the expansion that made it added (its step)."""

    ids: list[int]
    prompt_tokens: int
    phase: str = THINK
    thinking_ids: list[int] = field(default_factory=list)
    answer_ids: list[int] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)
    generated: int = 0  # tokens after the prompt on this path, forced ones included
    confs: list[float] = field(
        default_factory=list
    )  # confidence of each sampled token kept (confidence_k > 0)
    answer_sampled: int = 0
    end: str = ""  # why the last expansion stopped: step | think_end | done | max_step_tokens
    kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    logits: torch.Tensor | None = None
    hidden: torch.Tensor | None = None
    state_at: int | None = (
        None  # index in `ids` of the token `hidden` belongs to (decoders that read it later)
    )

    @property
    def done(self) -> bool:
        return self.phase == DONE

    def reading_key(self) -> tuple:
        """What a verifier's reading of this node depends on (its tokens, their split into thinking and
        answer, where its state is read): two nodes with equal keys are the same path, scored alike."""
        return (
            tuple(self.ids),
            self.phase,
            self.end,
            self.state_at,
            len(self.thinking_ids),
            self.answer_sampled,
        )


@dataclass(eq=False)
class _Row:
    node: Node
    generator: torch.Generator
    pending: deque = field(default_factory=deque)
    logits: torch.Tensor | None = None
    hidden: torch.Tensor | None = None
    step_ids: list[int] = field(default_factory=list)
    stop: str = ""


class TreeDecoder:
    """Expands Nodes in batches; see the module docstring."""

    def __init__(self, model, tokenizer, fmt: FormatArgs, batch_size: int = 32):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.base, self.head = model.base_model, model.get_output_embeddings()
        self.delims = TokenDelimiters.build(tokenizer, fmt, extra_eos=model_eos_ids(model))
        self.max_context = getattr(model.config, "max_position_embeddings", None) or 2048
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    # ---- public API -------------------------------------------------------------------------
    def roots(self, prompts: list[str]) -> list[Node]:
        """Prefill each prompt once; the nodes hold its cache, next-token logits and last hidden state."""
        nodes = root_nodes(self.tokenizer, prompts, self.max_context)
        for start in range(0, len(nodes), self.batch_size):
            batch = nodes[start : start + self.batch_size]
            ids, mask = left_pad([n.ids for n in batch], self.pad_id)
            cache = GrowingCache()
            hidden, logits = self._forward(ids, mask, (mask.cumsum(-1) - 1).clamp(min=0), cache)
            for r, n in enumerate(batch):
                n.kv = _row_kv(cache, r, mask[r])
                n.hidden, n.logits = hidden[r], logits[r]
        return nodes

    def expand(self, parents: list[Node], spec: Expansion, seeds: list[int]) -> list[Node]:
        """One child per entry of `parents` (repeat a parent to branch it); children in input order."""
        if len(seeds) != len(parents):
            raise ConfigError(f"{len(parents)} parents but {len(seeds)} seeds")
        if any(p.done for p in parents):
            raise ConfigError("a finished node cannot be expanded")
        order = sorted(range(len(parents)), key=lambda i: len(parents[i].ids))
        out: list[Node | None] = [None] * len(parents)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            children = self._expand_batch([parents[i] for i in chunk], spec, [seeds[i] for i in chunk])
            for i, child in zip(chunk, children, strict=True):
                out[i] = child
        return out  # type: ignore[return-value]

    def text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def states(self, nodes: list[Node]) -> torch.Tensor:
        """The last hidden state each node was decoded with (a value head's features)."""
        return torch.stack([n.hidden for n in nodes])

    def prefers(self, prompts: list[str], first: int, second: int) -> tuple[list[bool], list[Node]]:
        """Whether the next token after each prompt is likelier to be `first` than `second` (and the roots read)."""
        nodes = self.roots(prompts)
        return [bool(n.logits[first] > n.logits[second]) for n in nodes], nodes

    def state_model(self):
        """The model hidden states are read with (`inference.vllm.tree.read_states`)."""
        return self.model

    def close(self) -> None:
        """Nothing to stop: the vLLM tree's twin stops its engine processes."""

    # ---- the loop ---------------------------------------------------------------------------
    def _forward(self, ids, mask, positions, cache) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states and next-token logits of the last column, as float32 on the CPU."""
        device = self.model.device
        with torch.inference_mode():
            out = self.base(
                input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                past_key_values=cache, use_cache=True,
            )  # fmt: skip
            last = out.last_hidden_state[:, -1]
            return last.float().cpu(), self.head(last).float().cpu()

    def _expand_batch(self, parents: list[Node], spec: Expansion, seeds: list[int]) -> list[Node]:
        rows = [self._start(p, spec, s) for p, s in zip(parents, seeds, strict=True)]
        cache, mask = _batch_cache(parents)
        positions = torch.tensor([len(p.ids) for p in parents])
        finished: dict[int, Node] = {}
        active = list(range(len(rows)))
        while True:
            keep = []  # positions in the batch of the rows still decoding
            for r, a in enumerate(active):
                row = rows[a]
                if not row.pending and not row.stop:
                    self._sample(row, spec)
                if row.stop and (not row.pending or row.node.done):
                    finished[a] = self._finish(row, cache, mask, r)
                else:
                    keep.append(r)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep)
                cache.batch_select_indices(index.to(self.model.device))
                mask, positions = mask[index], positions[index]
                active = [active[r] for r in keep]
            step = torch.tensor([[self._feed(rows[a])] for a in active])
            mask = torch.cat([mask, torch.ones((len(active), 1), dtype=torch.long)], dim=1)
            hidden, logits = self._forward(step, mask, positions[:, None], cache)
            positions = positions + 1
            for r, a in enumerate(active):
                rows[a].hidden, rows[a].logits = hidden[r], logits[r]
            if int(positions.max()) + 1 >= self.max_context:
                raise ConfigError(f"a path reached the model's context of {self.max_context} tokens")
        return [finished[i] for i in range(len(rows))]

    def _start(self, parent: Node, spec: Expansion, seed: int) -> _Row:
        node = Node(ids=list(parent.ids), prompt_tokens=parent.prompt_tokens, phase=parent.phase,
                    thinking_ids=list(parent.thinking_ids), answer_ids=list(parent.answer_ids),
                    generated=parent.generated, answer_sampled=parent.answer_sampled,
                    confs=list(parent.confs))  # fmt: skip
        row = _Row(node=node, generator=make_generator(seed), logits=parent.logits, hidden=parent.hidden)
        if spec.forced and node.phase == THINK:
            self._queue(row, self.tokenizer.encode(spec.forced, add_special_tokens=False), thinking=True)
        if spec.force_answer and node.phase == THINK:
            self._close(row, forced=True)
        return row

    def _queue(self, row: _Row, ids: list[int], thinking: bool = False) -> None:
        row.pending.extend(ids)
        row.node.new_ids += ids
        row.node.generated += len(ids)
        if thinking:
            row.node.thinking_ids += ids

    def _close(self, row: _Row, forced: bool, cut: bool = False) -> None:
        """End thinking: the delimiter (after a newline when `cut` at the maximum mid-line, as the
        budget-forcing engines do), plus the final-answer prefix when the model did not close it itself."""
        self._queue(row, self.delims.close_ids(row.node.thinking_ids, cut))
        if forced:
            self._queue(row, self.delims.final_prefix_ids)
            row.node.answer_ids += self.delims.final_prefix_ids
        row.node.phase = ANSWER

    def _sample(self, row: _Row, spec: Expansion) -> None:
        node = row.node
        temperature = spec.temperature if node.phase == THINK else spec.answer_temperature
        token = sample_row(row.logits, temperature, spec.top_p, row.generator)
        if spec.confidence_k:
            node.confs.append(token_confidence(row.logits, spec.confidence_k))
        if node.phase == ANSWER:
            if token in self.delims.eos_ids:
                node.generated += 1  # end of turn: sampled, never fed
                node.phase, row.stop = DONE, "done"
                return
            self._queue(row, [token])
            node.answer_ids.append(token)
            node.answer_sampled += 1
            if node.answer_sampled >= spec.max_answer_tokens:
                node.phase, row.stop = DONE, "done"
            return
        reason = thinking_cut(token, len(node.thinking_ids), row.step_ids, spec, self.delims.think_stop_ids, self.text,
                              node.confs)  # fmt: skip
        if reason == STOP:
            if spec.until == "think_end":
                node.generated += 1  # sampled, then discarded: compute spent all the same
                row.stop = "think_end"
                return
            self._close(row, forced=token != self.delims.think_end_ids[0])
            return
        self._queue(row, [token], thinking=True)
        row.step_ids.append(token)
        if reason == LOW:  # abandoned: no answer
            node.phase, row.stop = DONE, LOW
        elif reason == CAP:
            self._close(row, forced=True, cut=True)
        elif reason:
            row.stop = reason  # STEP or LONG

    def _feed(self, row: _Row) -> int:
        token = row.pending.popleft()
        row.node.ids.append(token)
        return token

    def _finish(self, row: _Row, cache: GrowingCache, mask: torch.Tensor, r: int) -> Node:
        node = row.node
        node.end = row.stop
        node.hidden, node.state_at = row.hidden, len(node.ids) - 1  # ids holds the fed tokens so far
        if not node.done:  # only a node that can be expanded again keeps its cache
            node.kv, node.logits = _row_kv(cache, r, mask[r]), row.logits
        else:  # a last answer token queued but never fed still belongs to the text
            node.ids.extend(row.pending)
        return node


def root_nodes(tokenizer, prompts: list[str], max_context: int) -> list[Node]:
    """One undecoded Node per prompt (every tree decoder's roots), prompts that cannot fit refused."""
    nodes = []
    for i, p in enumerate(prompts):
        ids = tokenizer.encode(p, add_special_tokens=False)
        if not ids or len(ids) >= max_context:
            raise ConfigError(f"prompt {i}: {len(ids)} tokens; it must be 1..{max_context - 1}")
        nodes.append(Node(ids=ids, prompt_tokens=len(ids), state_at=len(ids) - 1))
    return nodes


def _row_kv(cache: GrowingCache, r: int, mask_row: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    valid = mask_row.bool().to(cache.layers[0].keys.device)
    return [(layer.keys[r][:, valid].clone(), layer.values[r][:, valid].clone()) for layer in cache.layers]


def _batch_cache(parents: list[Node]) -> tuple[GrowingCache, torch.Tensor]:
    """A cache holding every parent's keys and values, left-padded to the longest, and its mask."""
    _, mask = left_pad([p.ids for p in parents], 0)
    width = mask.shape[1]
    cache = GrowingCache()
    for layer in range(len(parents[0].kv)):
        k0, v0 = parents[0].kv[layer]
        k = k0.new_zeros((len(parents), k0.shape[0], width, k0.shape[-1]))
        v = v0.new_zeros((len(parents), v0.shape[0], width, v0.shape[-1]))
        for r, p in enumerate(parents):
            n = len(p.ids)
            k[r, :, width - n :], v[r, :, width - n :] = p.kv[layer]
        cache.update(k, v, layer)
    return cache, mask
