"""Budget forcing on vLLM (optional `gpu` extra; GPU only): s1's loop, done right.

    from inference.vllm_engine import VLLMEngine
    engine = VLLMEngine.from_pretrained("simplescaling/s1.1-32B", tokenizer, fmt, tensor_parallel_size=4)
    results = engine.generate(requests)          # same BudgetRequest / BudgetResult as the HF engine

Thinking runs in rounds over all requests at once. Each round submits every still-thinking request
as *token ids* (`{"prompt_token_ids": ...}`), never text, so nothing is re-tokenized at the join
where s1 appends "Wait" (its README lists "token id out of vocabulary" as a known issue); the
engine is built with `enable_prefix_caching=True`, so resubmitting a grown sequence re-uses its
cached prefix instead of re-encoding it. A round stops at `stop_token_ids` = {first token of the
think-end delimiter, end-of-turn, EOS} or at the remaining thinking budget (`max_tokens`); the
budget rules of `inference.budget` then decide whether to append the next ignore string or close
thinking. One final round decodes every answer. vLLM's `min_tokens` is deliberately not used for
the minimum budget: it would hide the stop token without appending "Wait", which is not s1's rule.

vLLM cannot be installed on the CPU machines this project is tested on: tests drive this class
with a small fake that has vLLM's call surface (`LLM.generate(prompts, sampling_params, use_tqdm)`
returning outputs with `token_ids`, `finish_reason`, `stop_reason`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from common.chat_format import FormatArgs, delimiter_ids
from inference.budget import (
    ANSWER,
    DONE,
    STOP_END_OF_TURN,
    STOP_MAX_ANSWER,
    THINK,
    BudgetRequest,
    BudgetResult,
    DecodeState,
    TokenDelimiters,
    build_result,
    ignore_string,
    should_suppress,
)


@dataclass(kw_only=True)
class _State(DecodeState):
    ids: list[int]  # prompt + everything appended so far
    prompt_tokens: int
    rounds: int = 0


class VLLMEngine:
    """Budget forcing with a vLLM `LLM`; see the module docstring."""

    def __init__(self, llm, tokenizer, fmt: FormatArgs, sampling_params_cls=None):
        if sampling_params_cls is None:
            from vllm import SamplingParams as sampling_params_cls
        self.llm, self.tokenizer, self.fmt, self.params_cls = llm, tokenizer, fmt, sampling_params_cls
        self.delims = TokenDelimiters.build(tokenizer, fmt)

    @classmethod
    def from_pretrained(cls, model: str, tokenizer, fmt: FormatArgs, **llm_kwargs) -> VLLMEngine:
        from vllm import LLM

        llm_kwargs.setdefault("enable_prefix_caching", True)
        return cls(LLM(model=model, **llm_kwargs), tokenizer, fmt)

    def generate(self, requests: list[BudgetRequest], on_result=None) -> list[BudgetResult]:
        start = time.perf_counter()
        states = []
        for i, r in enumerate(requests):
            ids = self.tokenizer.encode(r.prompt, add_special_tokens=False)
            if not ids:
                raise ValueError(f"request {i}: the prompt is empty")
            s = _State(req=r, ids=list(ids), prompt_tokens=len(ids))
            if r.max_thinking_tokens == 0:
                self._force_end(s, hit_max=True)
            states.append(s)
        while thinking := [s for s in states if s.phase == THINK]:
            params = [self._params(s, s.req.max_thinking_tokens - len(s.thinking_ids), self.delims.think_stop_ids)
                      for s in thinking]  # fmt: skip
            for s, out in zip(thinking, self._call(thinking, params), strict=True):
                self._after_thinking(s, out.outputs[0])
        answering = [s for s in states if s.phase == ANSWER]
        if answering:
            params = [self._params(s, s.req.max_answer_tokens, self.delims.eos_ids) for s in answering]
            for s, out in zip(answering, self._call(answering, params), strict=True):
                self._after_answer(s, out.outputs[0])
        seconds = round(time.perf_counter() - start, 4)
        results = [build_result(self.tokenizer, s, seconds) for s in states]
        if on_result:
            for i, r in enumerate(results):
                on_result(i, r)
        return results

    def _params(self, s: _State, max_tokens: int, stop_ids: set[int]):
        temperature = s.req.thinking_temperature if s.phase == THINK else s.req.answer_temperature
        s.rounds += 1
        return self.params_cls(
            max_tokens=max_tokens, stop_token_ids=sorted(stop_ids), temperature=temperature, top_p=s.req.top_p,
            seed=s.req.seed + s.rounds,  # a new stream each round, reproducible from the request's seed
            skip_special_tokens=False,
        )  # fmt: skip

    def _call(self, states: list[_State], params: list):
        return self.llm.generate([{"prompt_token_ids": list(s.ids)} for s in states], params, use_tqdm=False)

    def _split_stop(self, out, stop_ids: set[int]) -> tuple[list[int], int | None]:
        """Generated ids without the stop token, and the stop token (None: ran out of max_tokens)."""
        ids = list(out.token_ids)
        if out.finish_reason != "stop":
            return ids, None
        if ids and ids[-1] in stop_ids:
            return ids[:-1], ids[-1]
        # stop_reason is the matched stop id; None means the model's own EOS
        return ids, out.stop_reason if isinstance(out.stop_reason, int) else min(self.delims.eos_ids)

    def _after_thinking(self, s: _State, out) -> None:
        ids, stop = self._split_stop(out, self.delims.think_stop_ids)
        self._extend(s, ids, thinking=True)
        if stop is None or len(s.thinking_ids) >= s.req.max_thinking_tokens:
            self._force_end(s, hit_max=True)
            return
        ignore = delimiter_ids(self.tokenizer, ignore_string(s.req, s.num_forced), "ignore string")
        if should_suppress(s.req, len(s.thinking_ids), s.num_forced, len(ignore)):
            s.num_forced += 1
            self._extend(s, ignore, thinking=True)
            if len(s.thinking_ids) >= s.req.max_thinking_tokens:
                self._force_end(s, hit_max=True)
        elif stop == self.delims.think_end_ids[0]:
            s.think_end_reason = "delimiter"
            self._extend(s, self.delims.think_end_ids, thinking=False)
            s.phase = ANSWER
        else:
            s.think_end_reason = "end_of_turn"
            self._force_end(s, hit_max=False)

    def _after_answer(self, s: _State, out) -> None:
        ids, stop = self._split_stop(out, self.delims.eos_ids)
        s.answer_ids += ids
        s.answer_sampled = len(ids)
        s.generated += len(ids) + (stop is not None)
        s.stop_reason = STOP_END_OF_TURN if stop is not None else STOP_MAX_ANSWER
        s.phase = DONE

    def _extend(self, s: _State, ids: list[int], thinking: bool) -> None:
        s.ids += ids
        s.generated += len(ids)
        if thinking:
            s.thinking_ids += ids

    def _force_end(self, s: _State, hit_max: bool) -> None:
        if hit_max:
            s.hit_max, s.think_end_reason = True, "max_thinking_tokens"
        self._extend(s, self.delims.think_end_ids + self.delims.final_prefix_ids, thinking=False)
        s.answer_ids += self.delims.final_prefix_ids
        s.phase = ANSWER
