"""One request's state inside the sampler, and how a committed token advances it.

`RowState` is the budget state (`inference.forcing.budget.DecodeState`) plus what the engine shows of the
request; `Decision` is what one step decided for one output position; `follow` advances a state by
the token the engine committed, by the same rules the HF engine applies as it samples. The offline
vLLM engine uses `follow` too, to finish a request from the record `record_of` gives the processor.

Run: imported by `inference.forcing.batch` and `inference.vllm.engine`; tested in tests/test_forcing.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import NamedTuple

from thinkscale.inference.forcing.budget import (
    ANSWER,
    DONE,
    OLD_KINDS,
    STOP_CONTEXT,
    BudgetRules,
    DecodeState,
    note,
)
from thinkscale.inference.forcing.request import STOP_MAX_TOKENS

# The stop reason of a request released from forcing (the processor found its state inconsistent or
# lost it): its text is the engine's, its counts are those up to the release.
STOP_FORCING_ERROR = "forcing_error"


@dataclass(kw_only=True)
class RowState(DecodeState):
    """One request inside the sampler: the budget state plus what the engine shows us of it."""

    output: list[int]  # the request's committed output tokens, as the engine shows them
    prompt_tokens: int
    max_tokens: int  # the engine stops the request after this many output tokens
    context_end: bool  # reaching max_tokens means reaching the context (else: the client's max_tokens)
    stop_id: int  # the token that makes the engine end the request (an end-of-turn it stops at)
    uid: int  # this request's place in the device flag buffer
    final_prefix_ids: list[int] | None = None  # a per-request final-answer prefix
    record: str | None = None
    park_key: Hashable = None  # how a preempted request is found again: its identity
    identified: bool = False  # park_key is the identity admission gave it (else a fallback key)
    forcing_error: str | None = None  # why it was released from forcing (it then decodes untouched)
    decisions: dict = field(default_factory=dict)  # output position -> Decision
    seen: int = 0  # output positions folded in as final
    recorded: str = ""  # the phase of the last record written


class Decision(NamedTuple):
    """What a step decided for one output position. `forced`: the token, the state already advanced
    past it (`snap` undoes that). Else the engine's sampler draws; `target` is the replacement token
    a stop was merged into (None: nothing merged), `stop` the stop token it then stands for."""

    forced: int | None
    snap: tuple | None = None
    target: int | None = None
    stop: int | None = None
    redraw: bool = False  # the stop is replaced by a second draw (an empty ignore string), not `target`

    def flag_matters(self, token: int) -> bool:
        """Does the committed `token` leave open whether it stood for a stop?"""
        return self.stop is not None and (self.redraw or token == self.target)


def snapshot(s: RowState) -> tuple:
    trail = s.trail
    return (s.phase, len(s.thinking_ids), len(s.answer_ids), s.answer_sampled, s.generated, s.num_forced,
            s.hit_max, s.think_end_reason, s.stop_reason, s.fresh_round, tuple(s.pending),
            len(trail), trail[-1][1] if trail else 0)  # fmt: skip


def restore(s: RowState, snap: tuple) -> None:
    (s.phase, n_think, n_answer, s.answer_sampled, s.generated, s.num_forced,
     s.hit_max, s.think_end_reason, s.stop_reason, s.fresh_round, pending, n_trail, last) = snap  # fmt: skip
    del s.thinking_ids[n_think:]
    del s.answer_ids[n_answer:]
    del s.trail[n_trail:]
    if s.trail:  # the last chunk may have grown since (thinking and answer chunks merge)
        s.trail[-1][1] = last
    s.pending.clear()
    s.pending.extend(pending)


def follow(rules: BudgetRules, s: DecodeState, n: int, token: int, stop: int | None = None) -> None:
    """Advance `s` by the token the engine committed at output position `n`; `stop`: the stop token a
    committed replacement stands for. Raises RuntimeError when the token is not what the rules allow."""
    if s.phase != DONE:
        if s.pending:
            emitted = s.pending.popleft()
        else:
            sampled = token if stop is None else stop
            rules.accept(s, sampled)
            if stop is not None and rules.redraw(
                s
            ):  # the stop was dropped for nothing: the token is a new draw
                rules.accept(s, token)
                sampled = token
            emitted = s.pending.popleft() if s.pending else sampled
        if emitted != token:
            raise RuntimeError(f"budget forcing: the engine emitted token {token} where {emitted} was due")
    if s.phase != DONE and n + 1 >= s.max_tokens:  # the engine stops the request after this token
        s.phase, s.stop_reason = DONE, STOP_CONTEXT if s.context_end else STOP_MAX_TOKENS


def record_of(s: DecodeState) -> dict:
    """The DecodeState fields the offline engine copies into its own state; it follows the tokens
    after `through` (the output positions the state has passed) itself."""
    return {
        "phase": s.phase, "thinking_ids": list(s.thinking_ids), "answer_ids": list(s.answer_ids),
        "answer_sampled": s.answer_sampled, "generated": s.generated, "num_forced": s.num_forced,
        "hit_max": s.hit_max, "think_end_reason": s.think_end_reason, "stop_reason": s.stop_reason,
        "fresh_round": s.fresh_round, "pending": list(s.pending), "trail": [list(e) for e in s.trail],
    }  # fmt: skip


def state_from_record(rules: BudgetRules, s: DecodeState, record: dict, tokens: list[int], max_tokens: int,
                      context_end: bool) -> DecodeState:  # fmt: skip
    """A request's final state from the processor's record (its state when thinking ended, or when it was
    done) and the output tokens the engine returned: the tokens after the record's `through` (the answer
    the engine's sampler drew) are followed by the same rules. The offline engine and the server's
    segments middleware both finish a request this way."""
    record = dict(record)
    error = record.pop("forcing_error", None)
    through = record.pop("through", 0)
    s.pending = deque(record.pop("pending", ()))
    if "trail" in record:  # a record written under the old kind names reads as the new ones
        record["trail"] = [[OLD_KINDS.get(kind, kind), *rest] for kind, *rest in record["trail"]]
    for name, value in record.items():
        setattr(s, name, value)
    s.max_tokens, s.context_end = max_tokens, context_end
    if error is not None:  # released from forcing: what followed is the model's own, under no rule
        rest = list(tokens[through:])
        (s.answer_ids if s.phase == ANSWER else s.thinking_ids).extend(rest)
        if s.phase == ANSWER:
            s.answer_sampled += len(rest)
        s.generated += len(rest)
        note(s, "answer" if s.phase == ANSWER else "thinking", rest)
        s.phase, s.stop_reason = DONE, STOP_FORCING_ERROR
        return s
    for n in range(through, len(tokens)):
        follow(rules, s, n, tokens[n])
    s.phase = DONE
    return s
