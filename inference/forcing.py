"""Budget forcing inside a sampler: the per-request rules of `inference.budget`, applied to a batch of logits.

This is the engine-free core of the vLLM logits processor (`inference.vllm_processor`); it needs no
vLLM, so its exactness is tested in the default suite. Per request it keeps a `DecodeState` and the
shared `BudgetRules`, and at every step it chooses the one token the request emits, then leaves
only that token's logit finite ("forcing" it): whatever the engine's own sampler does afterwards
(greedy, temperature, top-p, top-k), it picks that token.

How the token is chosen, per request, at each step:

- a forced chunk is queued (an ignore string such as "Wait", the think-end delimiter, the
  final-answer prefix): its next token, one per step;
- otherwise the request *samples* a token t from its logits at its phase's temperature and top-p
  (`inference.sampling.sample_row`, the HF engine's function, from a generator seeded with the
  request's seed), and `BudgetRules.accept(t)` decides: in thinking, a stop token t (first token of
  the think-end delimiter, end-of-turn, EOS) is replaced by the ignore string while the minimum or
  `num_ignore` asks for more thinking, or else closes thinking; in the answer, t is emitted, and an
  end-of-turn t ends the request.

s1's distribution, exactly. s1 samples t ~ p (the temperature / top-p distribution), and if t is a
stop token that must be ignored, it discards t and appends "Wait". So the emitted token is the
ignore string with probability p(S) (S = the stop tokens; plus p("Wait") when the ignore string's
token is also sampled on its own), and otherwise t ~ p restricted to the other tokens and
renormalised — the conditional law of t given t ∉ S is p(t) / (1 − p(S)). The processor draws
t ~ p itself and applies the same rule, so its emitted tokens have exactly this law (tested with a
chi-square test on a toy distribution: tests/test_forcing.py). Greedy decoding is the temperature-0
case: t = argmax, and a stop token there is replaced by the ignore string.

Why the processor draws t itself instead of masking the stop tokens and letting vLLM sample the
rest: vLLM's top-p would then take its nucleus on the *renormalised* distribution, which is a
different (larger) nucleus than s1's, and one request has one vLLM temperature while the thinking
and the answer may have different ones. Drawing t here keeps both exact; the cost is one softmax
per sampled row per step, which vLLM's sampler pays anyway.

Committed tokens, not decisions, advance a request. A row's logits may be sampled and then thrown
away (a chunked prefill's partial step), so each decision is kept with a snapshot of the state
before it, keyed by the output position it is for. When the engine asks again for a position whose
decision never reached the output, the snapshot is restored and the decision taken again; when the
token shows up in the output, the decision is final.

Counts and results: the state follows `inference.budget` exactly (thinking tokens, forced
suppressions, the delimiter's reason, the stop reason), so a request's result has the same fields
as the HF engine's. When a request has a `record` key, its final state is written as JSON to
`<records dir>/<key>.json` the moment its last token is decided (before the engine returns it);
the offline engine reads it back (`inference.vllm_engine`, sampler mode).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

import torch

from inference.budget import (
    DONE,
    STOP_CONTEXT,
    THINK,
    BudgetRequest,
    BudgetRules,
    DecodeState,
    validate_budgets,
    without,
)
from inference.sampling import make_generator, sample_row

UNBOUNDED = 2**31 - 1  # a budget that is not given: the context (or max_tokens) ends the request
STOP_MAX_TOKENS = "max_tokens"  # vLLM's max_tokens (below the context) ended the request

# The per-request settings a client may pass (vLLM's SamplingParams.extra_args, the server's vllm_xargs).
XARG_INTS = ("min_thinking_tokens", "max_thinking_tokens", "num_ignore", "max_answer_tokens")
XARG_KEYS = (*XARG_INTS, "ignore_strings", "answer_temperature", "final_answer_prefix", "record")
# extra_args keys that vLLM itself reads: passed through untouched.
VLLM_OWN_KEYS = frozenset({"kv_transfer_params", "ec_transfer_params", "kv_cache_report_mode", "session_id"})
RECORDS_ENV = "THINKSCALE_FORCING_RECORDS"  # folder the offline engine reads results from
FORMAT_ENV = "THINKSCALE_FORMAT"  # the recipe's FormatArgs as JSON, for the processor in vLLM's processes
PROCESSOR = "inference.vllm_processor:BudgetForcingProcessor"  # what vLLM's --logits-processors loads
_RECORD_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def format_from_env():
    """The recipe's format as `inference.serve` / the offline engine passed it in FORMAT_ENV (else s1's)."""
    from common.chat_format import FormatArgs

    raw = os.environ.get(FORMAT_ENV)
    return FormatArgs(**json.loads(raw)) if raw else FormatArgs()


def _xarg(name: str) -> str:
    return f"vllm_xargs.{name}"


def _field_name(name: str) -> str:
    # validate_budgets names settings by their BudgetArgs names; the request fields differ in two places
    return {"temperature": "temperature", "top_p": "top_p", "ignore_string": _xarg("ignore_strings")}.get(
        name, _xarg(name)
    )


def budget_request(
    extra_args: dict | None, temperature: float, top_p: float, seed: int | None
) -> BudgetRequest | None:
    """The budgets a request asked for, or None when it asked for none (it then decodes untouched).

    Raises ValueError naming the field for an unknown key, a wrong type or an impossible budget.
    """
    extra = {k: v for k, v in (extra_args or {}).items() if k not in VLLM_OWN_KEYS}
    if not extra:
        return None
    unknown = sorted(set(extra) - set(XARG_KEYS))
    if unknown:
        raise ValueError(
            f"{_xarg(unknown[0])} is not a budget-forcing setting (known: {', '.join(XARG_KEYS)})"
        )
    for name in XARG_INTS:
        value = extra.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{_xarg(name)} must be an integer, got {value!r}")
    strings = extra.get("ignore_strings", ["Wait"])
    if isinstance(strings, str):
        strings = [strings]
    if not isinstance(strings, list) or not all(isinstance(x, str) for x in strings):
        raise ValueError(f"{_xarg('ignore_strings')} must be a string or a list of strings, got {strings!r}")
    answer_t = extra.get("answer_temperature", temperature)
    if isinstance(answer_t, bool) or not isinstance(answer_t, int | float):
        raise ValueError(f"{_xarg('answer_temperature')} must be a number, got {answer_t!r}")
    for name in ("final_answer_prefix", "record"):
        if name in extra and not isinstance(extra[name], str):
            raise ValueError(f"{_xarg(name)} must be a string, got {extra[name]!r}")
    if "record" in extra and not _RECORD_KEY.match(extra["record"]):
        raise ValueError(f"{_xarg('record')} must be 1-128 letters, digits, '.', '_' or '-'")
    req = dict(
        min_thinking_tokens=extra.get("min_thinking_tokens", 0),
        max_thinking_tokens=extra.get("max_thinking_tokens", UNBOUNDED),
        num_ignore=extra.get("num_ignore", 0),
        max_answer_tokens=extra.get("max_answer_tokens", UNBOUNDED),
    )
    validate_budgets(
        req["min_thinking_tokens"], req["max_thinking_tokens"], req["num_ignore"], req["max_answer_tokens"],
        strings, temperature, float(answer_t), top_p, flag=_field_name,
    )  # fmt: skip
    return BudgetRequest(
        prompt="", **req, ignore_strings=strings, thinking_temperature=temperature,
        answer_temperature=float(answer_t), top_p=top_p, seed=seed if seed is not None else _random_seed(),
    )  # fmt: skip


def _random_seed() -> int:
    return int.from_bytes(os.urandom(6), "little")  # no seed given: a fresh stream, as vLLM does


@dataclass(kw_only=True)
class RowState(DecodeState):
    """One request inside the sampler: the budget state plus what the engine shows us of it."""

    output: list[int]  # the engine's live list of this request's output tokens (-1: not yet known)
    prompt_tokens: int
    max_tokens: int  # the engine stops the request after this many output tokens
    context_end: bool  # reaching max_tokens means reaching the context (else: the client's max_tokens)
    stop_id: int  # the token that makes the engine end the request (an end-of-turn it stops at)
    final_prefix_ids: list[int] | None = None  # a per-request final-answer prefix
    record: str | None = None
    params_key: int = 0  # id() of the engine's params object: how a preempted request is found again
    generator: torch.Generator | None = None
    decisions: dict = field(default_factory=dict)  # output position -> (token, snapshot before the decision)
    seen: int = 0  # output positions folded in as final


def _snapshot(s: RowState) -> tuple:
    gen = (
        s.generator.get_state()
        if s.generator is not None and s.req.thinking_temperature + s.req.answer_temperature > 0
        else None
    )
    return (s.phase, len(s.thinking_ids), len(s.answer_ids), s.answer_sampled, s.generated, s.num_forced,
            s.hit_max, s.think_end_reason, s.stop_reason, s.fresh_round, tuple(s.pending), gen)  # fmt: skip


def _restore(s: RowState, snap: tuple) -> None:
    (s.phase, n_think, n_answer, s.answer_sampled, s.generated, s.num_forced,
     s.hit_max, s.think_end_reason, s.stop_reason, s.fresh_round, pending, gen) = snap  # fmt: skip
    del s.thinking_ids[n_think:]
    del s.answer_ids[n_answer:]
    s.pending.clear()
    s.pending.extend(pending)
    if gen is not None:
        s.generator.set_state(gen)


class ForcingBatch:
    """The budget states of the requests in a batch, by row, and the step that forces their tokens."""

    def __init__(self, rules: BudgetRules, records_dir: str | None = None, max_model_len: int | None = None):
        self.rules, self.records_dir, self.max_model_len = rules, records_dir, max_model_len
        self.rows: dict[int, RowState] = {}
        self.parked: dict[int, RowState] = {}  # preempted requests, by id() of their params, until re-added
        self._prefix_cache: dict[str, list[int]] = {}

    # ---- the batch --------------------------------------------------------------------------
    def add(self, index: int, params, prompt_ids: list[int] | None, output: list[int]) -> None:
        """A request joined the batch at row `index` (params: vLLM's SamplingParams or the same fields)."""
        self.rows.pop(index, None)
        parked = self.parked.pop(id(params), None)
        if parked is not None and len(output) >= parked.seen:  # a preempted request resumes
            parked.output = output
            self.rows[index] = parked
            return
        req = budget_request(params.extra_args, params.temperature, params.top_p, params.seed)
        if req is None:
            return
        prompt_tokens = len(prompt_ids or [])
        max_tokens = params.max_tokens if params.max_tokens is not None else UNBOUNDED
        context_end = self.max_model_len is not None and prompt_tokens + max_tokens >= self.max_model_len
        stops = set(getattr(params, "all_stop_token_ids", ()) or ())
        eot = self.rules.delims.eos_ids & stops or self.rules.delims.eos_ids
        s = RowState(
            req=req, output=output, prompt_tokens=prompt_tokens, max_tokens=max_tokens, context_end=context_end,
            stop_id=min(eot), record=(params.extra_args or {}).get("record"), params_key=id(params),
            generator=make_generator(req.seed),
        )  # fmt: skip
        prefix = (params.extra_args or {}).get("final_answer_prefix")
        if prefix is not None:
            s.final_prefix_ids = self._prefix_ids(prefix)
        self.rules.begin(s)
        self.rows[index] = s

    def remove(self, index: int) -> None:
        s = self.rows.pop(index, None)
        if s is not None and s.phase != DONE:
            self.parked[s.params_key] = s  # may come back after a preemption
            while len(self.parked) > 4096:  # aborted requests never come back: forget the oldest
                self.parked.pop(next(iter(self.parked)))

    def move(self, a: int, b: int, swap: bool) -> None:
        ra, rb = self.rows.pop(a, None), self.rows.pop(b, None)
        if ra is not None:
            self.rows[b] = ra
        if rb is not None and swap:
            self.rows[a] = rb

    # ---- one step ---------------------------------------------------------------------------
    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Choose each tracked row's token and leave only its logit finite (in place; returns `logits`)."""
        if not self.rows:
            return logits
        plan = [(row, s) for row, s in self.rows.items() if row < logits.shape[0]]
        for _, s in plan:
            self._prepare(s)
        want_argmax = [row for row, s in plan if self._samples(s) and self._temperature(s) == 0]
        argmax = (
            dict(zip(want_argmax, logits[want_argmax].argmax(-1).tolist(), strict=True))
            if want_argmax
            else {}
        )
        rows, tokens = [], []
        for row, s in plan:
            rows.append(row)
            tokens.append(self._decide(s, logits[row], argmax.get(row)))
        index = torch.tensor(rows, device=logits.device)
        logits[index] = float("-inf")
        logits[index, torch.tensor(tokens, device=logits.device)] = 0.0
        return logits

    def fold(self) -> None:
        """Make final every decision whose token has reached the output."""
        for s in self.rows.values():
            self._fold(s)

    # ---- per request ------------------------------------------------------------------------
    def _fold(self, s: RowState) -> None:
        n = len(s.output)
        for pos in range(s.seen, n):
            decision = s.decisions.pop(pos, None)
            token = s.output[pos]
            if decision is not None and token not in (-1, decision[0]):
                raise RuntimeError(
                    f"budget forcing: the engine emitted token {token} where {decision[0]} was forced"
                )
        s.seen = max(s.seen, n)

    def _prepare(self, s: RowState) -> None:
        """Fold the output, and undo a decision for this position that never reached the output."""
        self._fold(s)
        pending = s.decisions.pop(len(s.output), None)
        if pending is not None:
            _restore(s, pending[1])

    @staticmethod
    def _samples(s: RowState) -> bool:
        return s.phase != DONE and not s.pending

    @staticmethod
    def _temperature(s: RowState) -> float:
        return s.req.thinking_temperature if s.phase == THINK else s.req.answer_temperature

    def _decide(self, s: RowState, logits: torch.Tensor, argmax: int | None) -> int:
        n = len(s.output)
        snap = _snapshot(s)
        if s.phase == DONE:  # the answer budget was spent last step: end the request now
            token = s.stop_id
        else:
            if not s.pending:
                banned = self.rules.banned(s)
                if banned:  # one token must come after "Wait": the row's argmax may be a stop token
                    logits = without(logits, banned)
                    argmax = int(logits.argmax()) if self._temperature(s) == 0 else None
                t = (
                    argmax
                    if argmax is not None
                    else sample_row(logits, self._temperature(s), s.req.top_p, s.generator)
                )
                self.rules.accept(s, t)
            token = s.pending.popleft() if s.pending else t  # nothing queued: the end-of-turn that ends it
            if s.phase != DONE and n + 1 >= s.max_tokens:  # the engine stops the request after this token
                s.phase, s.stop_reason = DONE, STOP_CONTEXT if s.context_end else STOP_MAX_TOKENS
            if s.phase == DONE:
                self._write_record(s)
        s.decisions[n] = (token, snap)
        return token

    def _prefix_ids(self, text: str) -> list[int]:
        if text not in self._prefix_cache:
            self._prefix_cache[text] = (
                self.rules.tokenizer.encode(text, add_special_tokens=False) if text else []
            )
        return self._prefix_cache[text]

    def _write_record(self, s: RowState) -> None:
        if not s.record or self.records_dir is None:
            return
        path = os.path.join(self.records_dir, f"{s.record}.json")
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(record_of(s), f)
        os.replace(tmp, path)  # a reader never sees half a record


def record_of(s: DecodeState) -> dict:
    """The final DecodeState fields the offline engine copies into its own state to build the BudgetResult."""
    return {
        "thinking_ids": list(s.thinking_ids), "answer_ids": list(s.answer_ids), "answer_sampled": s.answer_sampled,
        "generated": s.generated, "num_forced": s.num_forced, "hit_max": s.hit_max,
        "think_end_reason": s.think_end_reason, "stop_reason": s.stop_reason,
    }  # fmt: skip
