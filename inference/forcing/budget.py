"""Budget-forcing requests and results: the contract every backend implements.

Semantics (s1's budget forcing, made exact; the README repeats them):

1. Thinking phase. The prompt ends with the think-start delimiter (`render_prompt`); decode.
2. The model *tries to end thinking* when it samples the first token of the think-end delimiter,
   the end-of-turn token or an EOS token. If thinking tokens < `min_thinking_tokens`, or fewer than
   `num_ignore` suppressions have happened, that token is discarded and the next ignore string
   (`ignore_strings`, used in turn, cycling) is appended instead; decoding continues. An empty
   ignore string appends nothing: the token is drawn again at the same place with the stop tokens
   excluded (s1's "2x without string", its Table 4). A suppression
   happens only if the whole ignore string still fits under `max_thinking_tokens`; otherwise thinking
   ends there (the maximum wins over the minimum).
3. When thinking tokens reach `max_thinking_tokens`, the think-end delimiter and
   `final_answer_prefix` are appended and the answer phase starts (`hit_max`); when the cut thinking
   does not end with a newline, a newline goes before the delimiter, as s1 does (its training text
   always has one there). The newline is part of the delimiter, not of the thinking budget. A model that ends
   thinking by itself gets the full think-end delimiter (and nothing else: it writes its own
   "Answer:"); one that emits end-of-turn/EOS inside thinking gets the delimiter and the
   final-answer prefix, so every request yields an answer.
4. Answer phase: decode until end-of-turn/EOS or `max_answer_tokens` sampled answer tokens.

Counting: `thinking_tokens` = tokens between the think-start and think-end delimiters, i.e. sampled
thinking tokens plus appended ignore-string tokens; it never exceeds `max_thinking_tokens`.
`answer_tokens` = tokens sampled in the answer phase, end-of-turn excluded (the appended final-answer
prefix is not counted; it is part of `answer` text). `generated_tokens` = every token after the
prompt, forced ones and delimiters included: the compute that was spent.

Segments: each result also says what happened in order (`segments`): the model's thinking, each
forced ignore string, the delimiter (forced or written by the model, and why thinking ended), the
forced final-answer prefix and the answer, each with its text and token count. The rules record
them as they append (`DecodeState.trail`), so every backend reports the same segments.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from thinkscale.common.chat_format import delimiter_ids
from thinkscale.common.errors import ConfigError
from thinkscale.common.validate import flag as cli_flag

STOP_END_OF_TURN = "end_of_turn"
STOP_MAX_ANSWER = "max_answer_tokens"
STOP_CONTEXT = "context_length"
# The answer budget wherever one is not given: library requests, chat, generate, every study's flag.
# s1 has no answer cap short of the context (max_gen_toks 32768): its recipes set 32768.
MAX_ANSWER_TOKENS = 256


@dataclass
class BudgetRequest:
    """One prompt and its budgets. `prompt` is the full text from `render_prompt`."""

    prompt: str
    min_thinking_tokens: int = 0
    max_thinking_tokens: int = 512
    num_ignore: int = 0
    ignore_strings: list[str] = field(default_factory=lambda: ["Wait"])
    max_answer_tokens: int = MAX_ANSWER_TOKENS
    thinking_temperature: float = 0.0
    answer_temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        validate_budgets(
            self.min_thinking_tokens, self.max_thinking_tokens, self.num_ignore, self.max_answer_tokens,
            self.ignore_strings, self.thinking_temperature, self.answer_temperature, self.top_p,
        )  # fmt: skip


def validate_budgets(
    min_thinking: int, max_thinking: int, num_ignore: int, max_answer: int,
    ignore_strings: list[str], t_think: float, t_answer: float, top_p: float, flag=None,
) -> None:  # fmt: skip
    """Raise ValueError naming the setting for budgets no decoder can honour.

    `flag(name)` spells a setting's name in the message (default: the CLI flag, `--min-thinking-tokens`;
    the vLLM processor names the request field instead)."""
    flag = flag or cli_flag
    if min_thinking < 0:
        raise ConfigError(f"{flag('min_thinking_tokens')} must be >= 0, got {min_thinking}")
    if max_thinking < 0:
        raise ConfigError(f"{flag('max_thinking_tokens')} must be >= 0, got {max_thinking}")
    if min_thinking > max_thinking:
        raise ConfigError(
            f"{flag('min_thinking_tokens')} ({min_thinking}) is larger than {flag('max_thinking_tokens')} ({max_thinking})"
        )
    if num_ignore < 0:
        raise ConfigError(f"{flag('num_ignore')} must be >= 0, got {num_ignore}")
    if max_answer <= 0:
        raise ConfigError(f"{flag('max_answer_tokens')} must be > 0, got {max_answer}")
    if not ignore_strings or not all(isinstance(x, str) for x in ignore_strings):
        raise ConfigError(f'{flag("ignore_string")} needs at least one string ("": append nothing)')
    for name, t in (("temperature", t_think), ("answer_temperature", t_answer)):
        if t < 0:
            raise ConfigError(f"{flag(name)} must be >= 0, got {t}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"{flag('top_p')} must be in (0, 1], got {top_p}")


@dataclass
class BudgetResult:
    """What one request produced, and how its budgets were applied."""

    thinking: str
    answer: str
    thinking_tokens: int
    answer_tokens: int
    generated_tokens: int
    prompt_tokens: int
    num_forced: int  # suppressed attempts to stop thinking (ignore strings appended)
    hit_max: bool  # thinking was cut at max_thinking_tokens
    think_end_reason: str  # "delimiter" | "end_of_turn" | "max_thinking_tokens" | "not_reached"
    stop_reason: str  # STOP_* above
    seconds: float
    # What happened, in order (`segment_records`); older result files have none.
    segments: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def should_suppress(req: BudgetRequest, thinking_tokens: int, num_forced: int, ignore_len: int) -> bool:
    """Rule 2: suppress an attempt to stop thinking (and append an ignore string of `ignore_len` tokens)?"""
    wants_more = thinking_tokens < req.min_thinking_tokens or num_forced < req.num_ignore
    return wants_more and thinking_tokens + ignore_len <= req.max_thinking_tokens


def ignore_string(req: BudgetRequest, num_forced: int) -> str:
    """The ignore string for the next suppression: `ignore_strings` in turn, cycling."""
    return req.ignore_strings[num_forced % len(req.ignore_strings)]


@dataclass
class TokenDelimiters:
    """The recipe's delimiters as token ids, as every backend needs them."""

    think_end_ids: list[int]
    final_prefix_ids: list[int]
    eos_ids: set[int]  # end-of-turn plus the model's EOS ids: these end the answer
    think_stop_ids: set[int]  # eos_ids plus the first think-end token: these try to end thinking
    newline_ids: list[int]  # "\n": goes before the delimiter at a cut
    ends_line: Callable[[int], bool] = field(repr=False)  # does this token's text end with "\n"?

    def close_ids(self, thinking_ids: list[int], cut: bool) -> list[int]:
        """What closes thinking: the delimiter; when `cut` at the maximum, after a newline unless the
        thinking already ends with one (or is empty: the prompt's think-start ends the line)."""
        if cut and thinking_ids and not self.ends_line(thinking_ids[-1]):
            return self.newline_ids + self.think_end_ids
        return list(self.think_end_ids)

    @classmethod
    def build(cls, tokenizer, fmt, extra_eos: set[int] = frozenset()) -> TokenDelimiters:

        think_end = delimiter_ids(tokenizer, fmt.think_end, "think_end")
        eot = delimiter_ids(tokenizer, fmt.end_of_turn, "end_of_turn")
        if len(eot) != 1:
            raise ConfigError(f"end_of_turn {fmt.end_of_turn!r} must be one token; it is {len(eot)} ({eot})")
        eos = {eot[0], *extra_eos}
        if tokenizer.eos_token_id is not None:
            eos.add(tokenizer.eos_token_id)
        return cls(
            think_end_ids=think_end,
            final_prefix_ids=tokenizer.encode(fmt.final_answer_prefix, add_special_tokens=False),
            eos_ids=eos,
            think_stop_ids=eos | {think_end[0]},
            newline_ids=tokenizer.encode("\n", add_special_tokens=False),
            ends_line=lru_cache(maxsize=None)(
                lambda i: tokenizer.decode([i], skip_special_tokens=False).endswith("\n")
            ),
        )


def without(logits, ids: set[int]):
    """A copy of one row of logits where `ids` cannot be sampled (nor be the argmax)."""
    if not ids:
        return logits
    masked = logits.clone()
    masked[sorted(ids)] = float("-inf")
    return masked


def encode_prompt(
    tokenizer, index: int, prompt: str, max_context: int, context: str = "the model's context"
) -> list[int]:
    """A request's prompt ids, or a ValueError naming the request and, when it does not fit, both lengths."""
    ids = tokenizer.encode(prompt, add_special_tokens=False)
    if not ids:
        raise ConfigError(f"request {index}: the prompt is empty")
    if len(ids) >= max_context:
        raise ConfigError(
            f"request {index}: the prompt is {len(ids)} tokens, but {context} is {max_context} tokens"
        )
    return ids


THINK, ANSWER, DONE = "thinking", "answer", "done"


@dataclass(kw_only=True)
class DecodeState:
    """What every backend tracks per request while it decodes; `build_result` reads it."""

    req: BudgetRequest
    phase: str = THINK
    thinking_ids: list[int] = field(default_factory=list)  # sampled thinking + appended ignore strings
    answer_ids: list[int] = field(default_factory=list)  # final-answer prefix (if forced) + sampled
    answer_sampled: int = 0
    generated: int = 0
    num_forced: int = 0
    hit_max: bool = False
    think_end_reason: str = "not_reached"
    stop_reason: str = ""
    fresh_round: bool = False  # an ignore string (or, with num_ignore, the prompt) awaits one sampled token
    pending: deque = field(
        default_factory=deque
    )  # appended tokens (sampled or forced) not yet fed to the model
    # [kind, tokens, ids or None] per appended chunk, in order; consecutive thinking (or answer) chunks
    # merge, so a request's trail stays a few entries long. Only delimiters keep their ids: the other
    # kinds' tokens are in thinking_ids / answer_ids, in the same order.
    trail: list = field(default_factory=list)


# One name per kind, in the trail, the streamed events, the segments and the records: -> whether the rules
# forced it (a delimiter: decided by its reason). Records written before the names were one are read
# through OLD_KINDS.
SEGMENT_KINDS = {"thinking": False, "ignore_string": True, "delimiter": None, "final_answer_prefix": True,
                 "answer": False}  # fmt: skip
OLD_KINDS = {"forced": "ignore_string", "answer_prefix": "final_answer_prefix"}


def note(s: DecodeState, kind: str, ids: list[int]) -> None:
    """Record `ids` appended under `kind` (a BudgetRules kind) in the request's trail."""
    trail = s.trail
    if kind in ("thinking", "answer") and trail and trail[-1][0] == kind:
        trail[-1][1] += len(ids)
    else:
        trail.append([kind, len(ids), list(ids) if kind == "delimiter" else None])


def trail_ids(s: DecodeState) -> list[tuple[str, list[int]]]:
    """The trail as (kind, token ids) pairs, in the order the tokens were appended."""
    out, t, a = [], 0, 0
    for kind, n, ids in s.trail:
        if kind in ("thinking", "ignore_string"):
            chunk, t = s.thinking_ids[t : t + n], t + n
        elif kind == "delimiter":
            chunk = ids
        else:
            chunk, a = s.answer_ids[a : a + n], a + n
        out.append((kind, list(chunk)))
    return out


def segment_records(tokenizer, s: DecodeState) -> list[dict]:
    """The trail as a result's `segments`: kind, text, tokens, forced; the delimiter also has its reason
    (delimiter: the model closed its thinking; max_thinking_tokens: the cut; end_of_turn: the model
    tried to end its turn inside thinking)."""
    out = []
    for kind, chunk in trail_ids(s):
        forced = SEGMENT_KINDS[kind]
        seg = {"kind": kind, "text": tokenizer.decode(chunk, skip_special_tokens=False), "tokens": len(chunk)}
        if kind == "delimiter":
            seg["reason"] = s.think_end_reason
            forced = s.think_end_reason != "delimiter"
        seg["forced"] = forced
        out.append(seg)
    return out


def build_result(tokenizer, state: DecodeState, seconds: float) -> BudgetResult:
    """A BudgetResult from a backend's per-request state (it must also provide `prompt_tokens`)."""
    decode = tokenizer.decode
    return BudgetResult(
        thinking=decode(state.thinking_ids, skip_special_tokens=False).strip(),
        answer=decode(state.answer_ids, skip_special_tokens=False).strip(),
        thinking_tokens=len(state.thinking_ids), answer_tokens=state.answer_sampled,
        generated_tokens=state.generated, prompt_tokens=state.prompt_tokens, num_forced=state.num_forced,
        hit_max=state.hit_max, think_end_reason=state.think_end_reason, stop_reason=state.stop_reason,
        seconds=round(seconds, 4), segments=segment_records(tokenizer, state),
    )  # fmt: skip


class BudgetRules:
    """The rules above as one token-level state machine, shared by the HF engine and the vLLM logits processor.

    A backend calls `begin(state)` once, then `accept(state, token)` with each token it *sampled*;
    `accept` appends what the rules say (the token, an ignore string in place of a stop token, the
    think-end delimiter, the final-answer prefix) to `state.pending`, and the backend feeds
    `state.pending` to the model one token per step, sampling again only when it is empty. Both
    return what was appended as (kind, ids) pairs; kind is thinking, forced, delimiter,
    answer_prefix or answer.
    """

    def __init__(self, tokenizer, delims: TokenDelimiters):
        self.tokenizer, self.delims = tokenizer, delims
        self._ignore_cache: dict[str, list[int]] = {}

    def begin(self, s: DecodeState) -> list[tuple[str, list[int]]]:
        """A request with no thinking budget at all closes its thinking before the first sample."""
        s.fresh_round = s.req.num_ignore > 0
        return self.force_end(s, hit_max=True) if s.req.max_thinking_tokens == 0 else []

    def banned(self, s: DecodeState) -> set[int]:
        """Tokens the next sample may not be: the stop tokens right after an ignore string (and at the
        first thinking token when num_ignore > 0), as s1's `min_tokens=1` rounds."""
        return self.delims.think_stop_ids if s.phase == THINK and s.fresh_round and not s.pending else set()

    def accept(self, s: DecodeState, token: int) -> list[tuple[str, list[int]]]:
        """Apply the budget rules to one sampled token."""
        req = s.req
        if s.phase == THINK:
            if token not in self.delims.think_stop_ids:
                return self._append(s, [token], THINK)
            ignore = self.ignore_ids(req, s.num_forced)
            if should_suppress(req, len(s.thinking_ids), s.num_forced, len(ignore)):
                s.num_forced += 1  # the stop token is discarded; the ignore string takes its place
                return self._append(s, ignore, "ignore_string")
            if token == self.delims.think_end_ids[0]:
                s.think_end_reason = "delimiter"
                return self._append(s, self.delims.think_end_ids, "delimiter")
            s.think_end_reason = "end_of_turn"
            return self.force_end(s, hit_max=False)
        s.generated += 1
        if token in self.delims.eos_ids:  # end of turn: nothing left to feed
            s.phase, s.stop_reason = DONE, STOP_END_OF_TURN
            return []
        s.answer_ids.append(token)
        s.answer_sampled += 1
        s.pending.append(token)
        note(s, ANSWER, [token])
        if s.answer_sampled >= req.max_answer_tokens:
            s.phase, s.stop_reason = DONE, STOP_MAX_ANSWER
        return [(ANSWER, [token])]

    def force_end(self, s: DecodeState, hit_max: bool) -> list[tuple[str, list[int]]]:
        """Close thinking with the delimiter and the final-answer prefix; switch to the answer phase."""
        if hit_max:
            s.hit_max, s.think_end_reason = True, "max_thinking_tokens"
        events = self._append(s, self.delims.close_ids(s.thinking_ids, cut=hit_max), "delimiter")
        prefix = getattr(
            s, "final_prefix_ids", None
        )  # a request's own prefix (the vLLM processor allows one)
        prefix = self.delims.final_prefix_ids if prefix is None else prefix
        if prefix:
            events += self._append(s, prefix, "final_answer_prefix")
        return events

    def ignore_ids(self, req: BudgetRequest, n: int) -> list[int]:
        """The next ignore string's ids ([] for the empty string: nothing is appended)."""

        text = ignore_string(req, n)
        if text not in self._ignore_cache:
            self._ignore_cache[text] = delimiter_ids(self.tokenizer, text, "ignore string") if text else []
        return self._ignore_cache[text]

    def redraw(self, s: DecodeState) -> bool:
        """After `accept`: was a stop dropped with nothing in its place (an empty ignore string)? The
        backend then draws again from the same logits, the stop tokens banned (`banned`)."""
        return s.phase == THINK and not s.pending and s.fresh_round

    def _append(self, s: DecodeState, ids: list[int], kind: str) -> list[tuple[str, list[int]]]:
        """Queue tokens to feed; thinking and forced tokens count toward the thinking budget."""
        s.pending.extend(ids)
        s.generated += len(ids)
        note(s, kind, ids)
        events = [(kind, list(ids))]
        if kind == "delimiter":
            s.phase = ANSWER
        elif kind == "final_answer_prefix":
            s.answer_ids.extend(ids)
        else:  # thinking or forced ignore string
            s.fresh_round = kind == "ignore_string"
            s.thinking_ids.extend(ids)
            if len(s.thinking_ids) >= s.req.max_thinking_tokens:
                events += self.force_end(s, hit_max=True)
        return events
