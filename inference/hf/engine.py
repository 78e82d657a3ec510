"""The budget-forcing decoder on transformers models: one KV-cached, batched loop.

    from thinkscale.inference.hf.engine import HFEngine
    engine = HFEngine(model, tokenizer, fmt)
    results = engine.generate([BudgetRequest(prompt, max_thinking_tokens=64, num_ignore=2)])
    for item in engine.stream(BudgetRequest(prompt)): ...   # TokenEvents (kind, ids), then the BudgetResult

Every active sequence feeds exactly one token per step: the token it sampled, or the next token of a
forced chunk (an ignore string such as "Wait", the think-end delimiter, the final-answer prefix).
Forced tokens therefore enter the running KV cache like any other token; the prefix is never
re-encoded and text is never re-tokenized (s1's loop re-prefills the whole text after each "Wait",
and re-tokenizing at the join drifts). Each sequence carries its own phase and budgets
(`inference.forcing.budget` states the semantics); a finished sequence is dropped from the batch at once,
so it stops costing compute. Prompts are sorted by length and run in batches of `batch_size`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from thinkscale.common.chat_format import FormatArgs
from thinkscale.inference.forcing.budget import (
    DONE,
    STOP_CONTEXT,
    THINK,
    BudgetRequest,
    BudgetResult,
    BudgetRules,
    DecodeState,
    TokenDelimiters,
    build_result,
    encode_prompt,
    without,
)
from thinkscale.inference.hf.kv_cache import GrowingCache
from thinkscale.inference.hf.sampling import make_generator, sample_row
from thinkscale.inference.models.load import eos_ids_of


@dataclass
class TokenEvent:
    """Tokens appended to one sequence: `kind` is thinking, forced (ignore string), delimiter or answer."""

    index: int
    kind: str
    ids: list[int]


@dataclass(kw_only=True)
class _Seq(DecodeState):
    index: int
    prompt_ids: list[int]
    generator: torch.Generator
    sample_next: bool = True  # the logits of this step belong to a sampled position
    feed: int = -1  # the token fed at the next step
    started: float = 0.0
    seconds: float = 0.0

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt_ids)


class HFEngine:
    """Budget forcing with a transformers causal LM; see the module docstring."""

    def __init__(
        self, model, tokenizer, fmt: FormatArgs, batch_size: int = 32, max_context: int | None = None
    ):
        self.model, self.tokenizer, self.fmt, self.batch_size = model, tokenizer, fmt, batch_size
        self.delims = TokenDelimiters.build(tokenizer, fmt, extra_eos=model_eos_ids(model))
        self.max_context = max_context or getattr(model.config, "max_position_embeddings", None) or 2048
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.delims.eos_ids)
        )
        self.rules = BudgetRules(tokenizer, self.delims)

    # ---- public API -------------------------------------------------------------------------
    def close(self) -> None:
        """Nothing to stop (the model is freed with the engine); the vLLM engine's twin stops processes."""

    def generate(
        self, requests: list[BudgetRequest], on_result: Callable[[int, BudgetResult], None] | None = None
    ) -> list[BudgetResult]:
        """Run every request; results come back in request order. `on_result(i, result)` fires as each finishes."""
        seqs = [self._new_seq(i, r) for i, r in enumerate(requests)]
        order = sorted(seqs, key=lambda s: len(s.prompt_ids))  # similar lengths share a batch: less padding
        results: list[BudgetResult | None] = [None] * len(seqs)
        for start in range(0, len(order), self.batch_size):
            for seq in self._run(order[start : start + self.batch_size]):
                if isinstance(seq, _Seq):
                    results[seq.index] = build_result(self.tokenizer, seq, seq.seconds)
                    if on_result:
                        on_result(seq.index, results[seq.index])
        return results  # type: ignore[return-value]

    def stream(self, request: BudgetRequest) -> Iterator[TokenEvent | BudgetResult]:
        """Yield TokenEvents as one request decodes, then its BudgetResult."""
        seq = self._new_seq(0, request)
        for item in self._run([seq], events=True):
            yield build_result(self.tokenizer, item, item.seconds) if isinstance(item, _Seq) else item

    # ---- the loop ---------------------------------------------------------------------------
    def _new_seq(self, index: int, req: BudgetRequest) -> _Seq:
        ids = encode_prompt(self.tokenizer, index, req.prompt, self.max_context)
        seq = _Seq(index=index, req=req, prompt_ids=ids, generator=make_generator(req.seed))
        if self.rules.begin(seq):  # no thinking at all: the block is closed before the first sample
            seq.sample_next = False
        return seq

    def _run(self, seqs: list[_Seq], events: bool = False) -> Iterator[_Seq | TokenEvent]:
        """Decode a batch to the end; yield each sequence as it finishes (and TokenEvents if asked)."""
        device = self.model.device
        ids, mask = left_pad([s.prompt_ids for s in seqs], self.pad_id)
        for s in seqs:
            s.started = time.perf_counter()
        positions = (mask.sum(-1) - 1).clamp(min=0)
        cache = GrowingCache()
        with torch.inference_mode():
            out = self.model(
                input_ids=ids.to(device), attention_mask=mask.to(device),
                position_ids=(mask.cumsum(-1) - 1).clamp(min=0).to(device),
                past_key_values=cache, use_cache=True, logits_to_keep=1,
            )  # fmt: skip
            active = list(seqs)
            while active:
                logits = out.logits[:, -1, :]
                greedy = logits.argmax(-1).tolist() if any(s.sample_next for s in active) else None
                keep = []
                for row, s in enumerate(active):
                    for ev in self._advance(s, logits[row], greedy[row] if greedy else None):
                        if events:
                            yield ev
                    if s.phase == DONE or int(positions[row]) + 2 >= self.max_context:
                        if s.phase != DONE:
                            s.stop_reason, s.phase = STOP_CONTEXT, DONE
                        s.seconds = time.perf_counter() - s.started
                        yield s
                    else:
                        keep.append(row)
                if not keep:
                    break
                if len(keep) < len(active):  # drop finished rows: they cost nothing from here on
                    index = torch.tensor(keep)
                    cache.batch_select_indices(index.to(device))
                    mask, positions = mask[index], positions[index]
                    active = [active[r] for r in keep]
                positions = positions + 1
                mask = torch.cat([mask, torch.ones((len(active), 1), dtype=torch.long)], dim=1)
                step_ids = torch.tensor([[s.feed] for s in active])
                out = self.model(
                    input_ids=step_ids.to(device), attention_mask=mask.to(device),
                    position_ids=positions[:, None].to(device), past_key_values=cache, use_cache=True,
                )  # fmt: skip

    def _advance(self, s: _Seq, logits: torch.Tensor, greedy: int | None) -> list[TokenEvent]:
        """Consume this step's logits for one sequence and choose the token it feeds next.

        Every appended token, sampled or forced, goes through `pending`; one is fed per step, and
        the logits are sampled only at the step that fed the last pending token.
        """
        events: list[TokenEvent] = []
        while s.sample_next:
            temperature = s.req.thinking_temperature if s.phase == THINK else s.req.answer_temperature
            banned = self.rules.banned(s)
            if banned:  # one token must come after "Wait": the batch's argmax may be a stop token
                logits = without(logits, banned)
                greedy = int(logits.argmax()) if temperature == 0 else None
            token = greedy if temperature == 0 and greedy is not None else sample_row(
                logits, temperature, s.req.top_p, s.generator
            )  # fmt: skip
            events += [TokenEvent(s.index, kind, ids) for kind, ids in self.rules.accept(s, token)]
            # an empty ignore string dropped the stop with nothing in its place: draw again, here
            s.sample_next = self.rules.redraw(s)
        if s.phase != DONE:
            s.feed = s.pending.popleft()
            s.sample_next = not s.pending
        return events


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask, left-padded: every row's next token goes in the same column."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r)
        mask[i, width - len(r) :] = 1
    return ids, mask


def model_eos_ids(model) -> set[int]:

    return eos_ids_of(getattr(model, "generation_config", None), model.config)
