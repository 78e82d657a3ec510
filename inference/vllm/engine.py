"""Budget forcing on vLLM (`--backend vllm`; `make setup-vllm` installs vLLM), in the sampler or in rounds.

    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.vllm.engine import VLLMEngine
    engine = VLLMEngine.start(source, tokenizer, fmt, BackendArgs(backend="vllm", tensor_parallel_size=4))
    results = engine.generate(requests, on_result=write)   # same BudgetRequest / BudgetResult as the HF engine

Requests run in chunks of `chunk_size`; `on_result(i, result)` fires for every request of a chunk
as soon as the chunk is done, so a caller that writes results as they come (inference.generate,
eval.run) resumes part-way after an interruption.

Sampler mode (`vllm_forcing: sampler`, the default): the engine is started with the budget-forcing
logits processor (`inference.vllm.processor`), and a chunk is ONE `generate` call: each request
carries its budgets in `SamplingParams.extra_args`, the processor applies the rules per request at
every step, and continuous batching keeps running while one request is forced to think on. The
processor writes each request's budget state to a records folder when its thinking ends
(`inference.forcing.batch`); the engine follows the answer tokens vLLM returns after it with the same
rules and turns the state into the BudgetResult.

Rounds mode (`vllm_forcing: rounds`): s1's loop of rounds, done right. Inside a chunk, thinking
runs in rounds over all still-thinking requests. Each round submits them as *token ids* (`{"prompt_token_ids": ...}`),
never text, so nothing is re-tokenized at the join where s1 appends "Wait" (s1's README lists
"token id out of vocabulary" as a known issue); the engine runs with prefix caching, so a grown
sequence re-uses its cached prefix. A round stops at `stop_token_ids` = {first token of the
think-end delimiter, end-of-turn, the tokenizer's and the generation config's EOS ids}, at the
remaining thinking budget, or at the context (`max_model_len`); the rules of `inference.forcing.budget`
then append the next ignore string or close thinking. A last round decodes every answer. vLLM's
`min_tokens` is deliberately not used for the minimum budget: it hides the stop token without
appending "Wait", which is not s1's rule; it is used, as s1 uses it, as `min_tokens=1` on the round
after each "Wait" (and the first round with num_ignore), so one token comes before the next stop.

Context: a request whose prompt plus output reaches the engine's `max_model_len` ends alone with
`stop_reason: context_length` (what the HF engine does at the model's context), never by failing the
call; a prompt that does not fit at all is refused before anything is decoded, naming the request
and both lengths. With the same recipe in fp32 and greedy decoding the results equal the HF
engine's field by field (tests/test_vllm_real.py, on a real engine).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.errors import ConfigError
from thinkscale.inference.forcing.budget import (
    ANSWER,
    DONE,
    STOP_CONTEXT,
    STOP_END_OF_TURN,
    STOP_MAX_ANSWER,
    THINK,
    BudgetRequest,
    BudgetResult,
    BudgetRules,
    DecodeState,
    TokenDelimiters,
    build_result,
    encode_prompt,
    note,
    should_suppress,
    trail_ids,
)
from thinkscale.inference.forcing.state import state_from_record
from thinkscale.inference.models.load import source_eos_ids
from thinkscale.inference.vllm.launch import start_vllm
from thinkscale.inference.vllm.process import shutdown_llm


@dataclass(kw_only=True)
class _State(DecodeState):
    ids: list[int]  # prompt + everything appended so far
    prompt_tokens: int
    rounds: int = 0


def engine_context(llm) -> int | None:
    """The context length a real vLLM engine was started with (None for a stand-in without one)."""
    if getattr(llm, "max_model_len", None):  # inference.vllm.dp.DataParallelLLM
        return int(llm.max_model_len)
    try:
        return int(llm.llm_engine.model_config.max_model_len)
    except AttributeError:
        return None


def forcing_environment(fmt: FormatArgs) -> tuple[str, bool]:
    """Tell the processor (in vLLM's engine processes, which inherit the environment) the recipe's
    delimiters and where to write results. Returns the records folder and whether it was made here
    (an existing one, which an engine already running writes to, is reused)."""

    from thinkscale.inference.forcing.batch import FORMAT_ENV, RECORDS_ENV

    os.environ[FORMAT_ENV] = json.dumps(asdict(fmt))
    existing = os.environ.get(RECORDS_ENV)
    if existing and os.path.isdir(existing):
        return existing, False
    os.environ[RECORDS_ENV] = tempfile.mkdtemp(prefix="thinkscale-forcing-")
    return os.environ[RECORDS_ENV], True


class VLLMEngine:
    """Budget forcing with a vLLM `LLM`; see the module docstring."""

    def __init__(self, llm, tokenizer, fmt: FormatArgs, *, extra_eos: set[int] = frozenset(),
                 max_context: int | None = None, chunk_size: int = 256, sampling_params_cls=None,
                 mode: str = "rounds", records_dir: str | None = None):  # fmt: skip
        if sampling_params_cls is None:
            from vllm import SamplingParams as sampling_params_cls
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        if mode not in ("sampler", "rounds"):
            raise ConfigError(f"mode must be sampler or rounds, got {mode!r}")
        if mode == "sampler" and not records_dir:
            raise ConfigError("sampler mode needs the records folder the engine's processor writes to")
        self.llm, self.tokenizer, self.fmt, self.params_cls = llm, tokenizer, fmt, sampling_params_cls
        self.delims = TokenDelimiters.build(tokenizer, fmt, extra_eos=set(extra_eos))
        self.rules = BudgetRules(tokenizer, self.delims)
        self.max_context = max_context or engine_context(llm) or 2048
        self.chunk_size, self.mode, self.records_dir = chunk_size, mode, records_dir
        self._owns_records = False

    @classmethod
    def start(cls, source: str, tokenizer, fmt: FormatArgs, backend, dtype: str = "auto",
              chunk_size: int = 256) -> VLLMEngine:  # fmt: skip
        """Start vLLM on a resolved model folder or Hub id with `backend`'s settings (inference.backend)."""

        mode = backend.vllm_forcing
        records, owned, processors = None, False, None
        if mode == "sampler":
            from thinkscale.inference.forcing.batch import PROCESSOR

            (records, owned), processors = forcing_environment(fmt), [PROCESSOR]
        try:
            llm = start_vllm(source, backend, dtype, logits_processors=processors)
        except BaseException:
            if owned:
                shutil.rmtree(records, ignore_errors=True)
            raise
        engine = cls(llm, tokenizer, fmt, extra_eos=source_eos_ids(source), chunk_size=chunk_size, mode=mode,
                     records_dir=records)  # fmt: skip
        engine._owns_records = owned
        return engine

    def close(self) -> None:
        """Stop vLLM's engine processes now (not at garbage collection): the next model needs the memory."""
        shutdown_llm(self.llm)
        if self._owns_records and self.records_dir:
            shutil.rmtree(self.records_dir, ignore_errors=True)

    def generate(self, requests: list[BudgetRequest], on_result=None) -> list[BudgetResult]:
        """Every request's result, in request order; `on_result(i, result)` as each chunk finishes."""
        prompts = [self._prompt_ids(i, r) for i, r in enumerate(requests)]  # refuse bad prompts first
        results: list[BudgetResult] = []
        for start in range(0, len(requests), self.chunk_size):
            began = time.perf_counter()
            states = [self._new_state(r, ids) for r, ids in
                      zip(requests[start : start + self.chunk_size], prompts[start : start + self.chunk_size], strict=True)]  # fmt: skip
            self._decode(states)
            seconds = time.perf_counter() - began
            for j, s in enumerate(states):
                results.append(build_result(self.tokenizer, s, seconds))
                if on_result:
                    on_result(start + j, results[-1])
        return results

    def stream(self, request: BudgetRequest):
        """The HF engine's `stream` surface: the request's thinking, delimiter and answer as TokenEvents
        once it is decoded (rounds, not single tokens, are vLLM's unit here), then its BudgetResult."""
        from thinkscale.inference.hf.engine import TokenEvent

        began = time.perf_counter()
        state = self._new_state(request, self._prompt_ids(0, request))
        self._decode([state])
        result = build_result(self.tokenizer, state, time.perf_counter() - began)
        for kind, ids in trail_ids(state):
            yield TokenEvent(0, kind, ids)
        yield result

    # ---- one chunk --------------------------------------------------------------------------
    def _prompt_ids(self, i: int, r: BudgetRequest) -> list[int]:
        return encode_prompt(self.tokenizer, i, r.prompt, self.max_context, "the context (--max-model-len)")

    def _new_state(self, r: BudgetRequest, ids: list[int]) -> _State:
        s = _State(req=r, ids=list(ids), prompt_tokens=len(ids), fresh_round=r.num_ignore > 0)
        if r.max_thinking_tokens == 0 and self.mode == "rounds":
            self._force_end(s, hit_max=True)
            self._check_context(s)
        return s

    def _decode(self, states: list[_State]) -> None:
        if self.mode == "sampler":
            self._decode_in_sampler(states)
            return
        while thinking := [s for s in states if s.phase == THINK]:
            room = [self._room(s, s.req.max_thinking_tokens - len(s.thinking_ids)) for s in thinking]
            params = [
                self._params(s, n, self.delims.think_stop_ids) for s, n in zip(thinking, room, strict=True)
            ]
            for s, out in zip(thinking, self._call(thinking, params), strict=True):
                self._after_thinking(s, out.outputs[0])
                self._check_context(s)
        answering = [s for s in states if s.phase == ANSWER]
        if answering:
            room = [self._room(s, s.req.max_answer_tokens - s.answer_sampled) for s in answering]
            params = [self._params(s, n, self.delims.eos_ids) for s, n in zip(answering, room, strict=True)]
            for s, out in zip(answering, self._call(answering, params), strict=True):
                self._after_answer(s, out.outputs[0])

    def _decode_in_sampler(self, states: list[_State]) -> None:
        """One generate call; the processor applies the budgets and writes each request's final state."""
        keys = [uuid.uuid4().hex for _ in states]
        params = []
        for s, key in zip(states, keys, strict=True):
            r = s.req
            extra = {
                "min_thinking_tokens": r.min_thinking_tokens, "max_thinking_tokens": r.max_thinking_tokens,
                "num_ignore": r.num_ignore, "ignore_strings": list(r.ignore_strings),
                "max_answer_tokens": r.max_answer_tokens, "answer_temperature": r.answer_temperature, "record": key,
            }  # fmt: skip
            params.append(self.params_cls(
                max_tokens=self.max_context - len(s.ids),  # the context ends a request, as on the HF engine
                temperature=r.thinking_temperature, top_p=r.top_p, seed=r.seed,
                stop_token_ids=sorted(self.delims.eos_ids), skip_special_tokens=False, extra_args=extra,
            ))  # fmt: skip
        outs = self.llm.generate([{"prompt_token_ids": list(s.ids)} for s in states], params, use_tqdm=False)
        for i, (s, key, p, out) in enumerate(zip(states, keys, params, outs, strict=True)):
            path = os.path.join(self.records_dir, f"{key}.json")
            try:
                with open(path) as f:
                    record = json.load(f)
            except FileNotFoundError:
                raise RuntimeError(
                    f"request {i}: the budget-forcing processor left no record in {self.records_dir} "
                    "(was the engine started with it? VLLMEngine.start does that)"
                ) from None
            os.remove(path)
            self._finish_from_record(s, record, list(out.outputs[0].token_ids), p.max_tokens)

    def _finish_from_record(self, s: _State, record: dict, tokens: list[int], max_tokens: int) -> None:
        """The processor's record holds the state once thinking ended (or the request was done); the
        tokens the engine returned after it (the answer the engine's sampler drew) are followed here
        by the same rules."""
        state_from_record(
            self.rules, s, record, tokens, max_tokens, context_end=True
        )  # max_tokens is the context

    def _room(self, s: _State, budget: int) -> int:
        # Never ask vLLM for more than the context holds: it would reject the whole call.
        return min(budget, self.max_context - len(s.ids))

    def _params(self, s: _State, max_tokens: int, stop_ids: set[int]):
        temperature = s.req.thinking_temperature if s.phase == THINK else s.req.answer_temperature
        s.rounds += 1
        # A round after "Wait" (and the first, with num_ignore) samples one token before it may stop:
        # s1's min_tokens=1, which masks the stop token ids for that token.
        return self.params_cls(
            min_tokens=1 if s.phase == THINK and s.fresh_round and max_tokens > 0 else 0,
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
        # stop_reason is the matched stop id; None means an EOS vLLM knows and we do not
        return ids, out.stop_reason if isinstance(out.stop_reason, int) else min(self.delims.eos_ids)

    def _after_thinking(self, s: _State, out) -> None:
        ids, stop = self._split_stop(out, self.delims.think_stop_ids)
        self._extend(s, ids, THINK)
        s.fresh_round = s.fresh_round and not ids
        if len(s.thinking_ids) >= s.req.max_thinking_tokens:
            self._force_end(s, hit_max=True)
            return
        if stop is None:  # cut by the context, not by the budget: _check_context ends it
            return
        ignore = self.rules.ignore_ids(s.req, s.num_forced)
        if should_suppress(s.req, len(s.thinking_ids), s.num_forced, len(ignore)):
            s.num_forced += 1
            self._extend(s, ignore, "ignore_string")
            s.fresh_round = True
            if len(s.thinking_ids) >= s.req.max_thinking_tokens:
                self._force_end(s, hit_max=True)
        elif stop == self.delims.think_end_ids[0]:
            s.think_end_reason = "delimiter"
            self._extend(s, self.delims.think_end_ids, "delimiter")
            s.phase = ANSWER
        else:
            s.think_end_reason = "end_of_turn"
            self._force_end(s, hit_max=False)

    def _check_context(self, s: _State) -> None:
        """A request whose sequence fills the context ends here, alone (as the HF engine ends it)."""
        if s.phase != DONE and len(s.ids) >= self.max_context:
            s.phase, s.stop_reason = DONE, STOP_CONTEXT

    def _after_answer(self, s: _State, out) -> None:
        ids, stop = self._split_stop(out, self.delims.eos_ids)
        s.answer_ids += ids
        s.answer_sampled += len(ids)
        if ids:
            note(s, ANSWER, ids)
        s.ids += ids
        s.generated += len(ids) + (stop is not None)
        if stop is not None:
            s.stop_reason = STOP_END_OF_TURN
        elif s.answer_sampled >= s.req.max_answer_tokens:
            s.stop_reason = STOP_MAX_ANSWER
        else:
            s.stop_reason = STOP_CONTEXT
        s.phase = DONE

    def _extend(self, s: _State, ids: list[int], kind: str) -> None:
        """Append tokens of one kind (BudgetRules' kinds): thinking and forced ones count as thinking."""
        if (
            not ids and kind != "ignore_string"
        ):  # an empty ignore string is still a forced step; nothing else is
            return
        s.ids += ids
        s.generated += len(ids)
        note(s, kind, ids)
        if kind in (THINK, "ignore_string"):
            s.thinking_ids += ids

    def _force_end(self, s: _State, hit_max: bool) -> None:
        if hit_max:
            s.hit_max, s.think_end_reason = True, "max_thinking_tokens"
        self._extend(s, self.delims.close_ids(s.thinking_ids, cut=hit_max), "delimiter")
        self._extend(s, self.delims.final_prefix_ids, "final_answer_prefix")
        s.answer_ids += self.delims.final_prefix_ids
        s.phase = ANSWER
