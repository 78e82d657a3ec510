"""Budget forcing inside a sampler: the per-request rules of `inference.forcing.budget`, applied to a batch of logits.

This is the engine-free core of the vLLM logits processor (`inference.vllm.processor`, both of
vLLM's model runners); it needs no vLLM, so its exactness is tested in the default suite. Per
request it keeps a `DecodeState` and the shared `BudgetRules`; the state follows the tokens the
engine *commits*, and at each step a row is touched only as far as the rules need:

- a forced chunk is queued (an ignore string, the think-end delimiter, the final-answer prefix) or
  the request is done: its next token is forced (one logit written, `forcing_ops.force`);
- thinking, right after an ignore string: the stop tokens are banned for one token (s1's
  `min_tokens=1`), and the engine's sampler draws the rest;
- thinking otherwise: a stop token t (first token of the think-end delimiter, end-of-turn, EOS)
  would be replaced — by the ignore string while the minimum or `num_ignore` asks for more
  thinking, else (end-of-turn / EOS) by the think-end delimiter. Greedy or at top-p 1 the stops are
  merged into their replacement in a few logits (`forcing_ops.merge`) and the engine's sampler
  draws; under top-p < 1 the row is drawn here in one batched draw (`forcing_ops.draw`), because a
  merge would move the nucleus;
- the answer: untouched, unless the answer temperature differs from the request's (drawn here).

s1's distribution, exactly. s1 samples t ~ p (temperature, top-p) and, if t is a stop token that
must be ignored, discards it and appends "Wait". So the emitted token is the replacement with
probability p(S) + p(replacement), and any other token u with p(u) — the law of one draw from p
with the stops' mass moved onto the replacement. A merge gives the replacement exactly that mass
(the larger logit when greedy; T·logsumexp at temperature T, before the sampler divides by T); a
draw here samples t ~ p itself. Which of the two the replacement stood for — a stop (then the
counts and what follows change) or itself — is a per-row flag kept on the device and read only when
the replacement is committed (tests/test_forcing.py: a chi-square test with power).

Committed tokens, not decisions, advance a request. A row's logits may be sampled and thrown away
(a chunked prefill's partial step), so a decision that advanced the state (a forced token) keeps a
snapshot of the state before it, keyed by its output position, and is undone when the engine asks
for that position again; other decisions advance the state only when their token is committed.

Results: the state follows `inference.forcing.budget` exactly, so a request's result has the same fields
as the HF engine's. A request with a `record` key has its state written as JSON to
`<records dir>/<key>.json` when its thinking ends and when it is done; the offline engine reads it
and follows the rest of the returned tokens with `follow` (`inference.vllm.engine`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Hashable

import torch

from thinkscale.inference.forcing import ops
from thinkscale.inference.forcing.budget import DONE, STOP_CONTEXT, THINK, BudgetRules, should_suppress
from thinkscale.inference.forcing.request import (  # noqa: F401  (re-exported: the processor's public names)
    FORMAT_ENV,
    PROCESSOR,
    RECORDS_ENV,
    STOP_MAX_TOKENS,
    UNBOUNDED,
    XARG_KEYS,
    budget_request,
    format_from_env,
    identity,
    identity_seed,
)  # fmt: skip
from thinkscale.inference.forcing.state import Decision, RowState, follow, restore, snapshot
from thinkscale.inference.forcing.table import RequestTable

log = logging.getLogger(__name__)
STATS_EVERY = 256  # admissions between two log lines of the batch's sizes


class _Plan:
    """One step's rows by what the rules need, as lists the batched operations take."""

    def __init__(self):
        self.force_rows, self.force_tokens = [], []
        self.ban_rows, self.ban_ids = [], []
        self.merge, self.draw = [], []  # (row, state, src ids, target, temperature, top_p, last)


class ForcingBatch(RequestTable):
    """The budget states of a batch's requests, by key (vLLM V1: the row; V2: the slot), and the step.

    A request's state belongs to the request, not to its row or slot: it is found by the request's
    identity (`forcing_request.identity`, given at admission) wherever the engine puts the request
    back after a preemption, even while its old slot still holds it (V2 frees a preempted request's
    slot without telling the processor). A state that cannot be found, or that disagrees with the
    engine, releases its request from forcing (`release`): it decodes on untouched, its record says
    why, and every other request goes on. Parked states are bounded (`max_parked`)."""

    def __init__(self, rules: BudgetRules, records_dir: str | None = None, max_model_len: int | None = None,
                 max_parked: int = 512, engine_seed: int = 0):  # fmt: skip
        super().__init__(max_parked, records_dir)
        self.rules, self.max_model_len = rules, max_model_len
        self.admitted = 0
        # Requests admitted without an identity (no frontend check ran) draw their seed from this
        # stream: seeded by the engine's seed and consumed in the engine's order, so alike on every rank.
        self._seeds = random.Random(engine_seed)
        self._prefix_cache: dict[str, list[int]] = {}
        self._flags: torch.Tensor | None = None  # per uid: the last merge/draw stood for a stop
        delims = rules.delims
        self._stops = sorted(delims.think_stop_ids)
        self._eos = sorted(delims.eos_ids)
        self._width = len(self._stops)

    # ---- the batch --------------------------------------------------------------------------
    def add(self, key: Hashable, params, prompt_tokens: int, output: list[int],
            park_key: Hashable = None) -> RowState | None:  # fmt: skip
        """A request joined the batch under `key` (params: vLLM's SamplingParams or the same fields)
        with `output` already committed (a resumed request). Returns its state, or None when it has no
        budgets or is released from forcing. `park_key`: its identity where admission gave it none
        (default: the params object's)."""
        self.drop(key)
        ident = identity(params)
        park_key = ident if ident is not None else (id(params) if park_key is None else park_key)
        stale = self._stale_key(park_key) if ident is not None else None
        if stale is not None:  # its old slot still holds it
            self.drop(stale)
        parked = self.parked.pop(park_key, None)
        if parked is not None:
            if len(output) < parked.seen or output[: parked.seen] != parked.output[: parked.seen]:
                self._give_up(parked, "its committed tokens differ from those its forcing state followed")
                return None
            parked.output = output  # a preempted request resumes
            self._place(key, parked)
            return parked
        if output:  # resumed, but its state is gone (evicted, or never seen): never replay without decisions
            self._release_unknown(params, "its forcing state was not found when it resumed")
            return None
        fallback = identity_seed(ident)
        req = budget_request(params.extra_args, params.temperature, params.top_p, params.seed,
                             fallback if fallback is not None else self._seeds.getrandbits(48))  # fmt: skip
        if req is None:
            return None
        max_tokens = params.max_tokens if params.max_tokens is not None else UNBOUNDED
        context_end = self.max_model_len is not None and prompt_tokens + max_tokens >= self.max_model_len
        stops = set(getattr(params, "all_stop_token_ids", ()) or ())
        eot = self.rules.delims.eos_ids & stops or self.rules.delims.eos_ids
        s = RowState(
            req=req, output=output, prompt_tokens=prompt_tokens, max_tokens=max_tokens, context_end=context_end,
            stop_id=min(eot), uid=self._uid(), record=(params.extra_args or {}).get("record"), park_key=park_key,
            identified=ident is not None,
        )  # fmt: skip
        prefix = (params.extra_args or {}).get("final_answer_prefix")
        if prefix is not None:
            s.final_prefix_ids = self._prefix_ids(prefix)
        self.rules.begin(s)
        self._write_record(s, len(output))
        self._place(key, s)
        self.admitted += 1
        if self.admitted % STATS_EVERY == 0:  # what a long-lived server holds (tests/test_soak.py reads it)
            log.info("budget forcing: %d requests admitted, %d in the batch, %d parked (bound %d), %d released",
                     self.admitted, len(self.rows), len(self.parked), self.max_parked, self.released)  # fmt: skip
        return s

    def drop(self, key: Hashable) -> None:
        """The request under `key` left the batch: parked if it may come back (a preemption)."""
        s = self._unplace(key)
        if s is None:
            return
        if s.phase == DONE:
            self._free(s)
            return
        try:
            self._fold(s, self._read_flags([s]))
        except RuntimeError as e:
            self._give_up(s, str(e))
            return
        for n in sorted((n for n in s.decisions if n >= s.seen), reverse=True):
            if s.decisions[n].snap is not None:  # a forced token not seen committed: undone, decided again
                restore(s, s.decisions.pop(n).snap)
        # an open decision stays, with its flag under the request's uid: its token may be committed
        self._park(s)

    remove = drop

    def move(self, a: Hashable, b: Hashable, swap: bool) -> None:
        """The request under `a` moved to `b` (swap: and b's to a). A one-way move fills a row whose
        request left (vLLM V1 reports such a removal only as this move): that request is dropped first."""
        if not swap:
            self.drop(b)
        ra, rb = self._unplace(a), self._unplace(b)
        if ra is not None:
            self._place(b, ra)
        if rb is not None:
            self._place(a, rb)

    # ---- one step ---------------------------------------------------------------------------
    def apply(self, logits: torch.Tensor, placement: list[tuple[int, Hashable]] | None = None,
              flags: dict[int, bool] | None = None) -> torch.Tensor:  # fmt: skip
        """Apply the rules to `logits` in place (and return it). `placement`: (row, key) pairs
        (default: every key is its row); `flags`: uid -> flag already read by the caller."""
        if not self.rows:
            return logits
        if placement is None:
            placement = [(row, row) for row in self.rows if row < logits.shape[0]]
        states = [self.rows[key] for _, key in placement]
        flags = dict(flags or {})
        flags.update(self._read_flags([s for s in states if s.uid not in flags]))
        plan, planned = _Plan(), []
        for (row, key), s in zip(placement, states, strict=True):
            try:
                self._fold(s, flags)
                undo = s.decisions.pop(len(s.output), None)
                if undo is not None and undo.snap is not None:
                    restore(s, undo.snap)
                self._classify(row, s, plan)
                planned.append(key)
            except Exception as e:  # never on one request's account: that request alone goes unforced
                self.release(key, f"{type(e).__name__}: {e}")
        try:
            self._run(logits, plan)
        except Exception:  # a fault of the batched step: its rows are left as they were, and unforced
            log.exception("budget forcing could not apply this step's decisions")
            for key in planned:
                self.release(key, "the batched forcing step failed (see the engine's log)")
        return logits

    def fold(self) -> None:
        """Make final every decision whose token has reached the output."""
        flags = self._read_flags(list(self.rows.values()))
        for key, s in list(self.rows.items()):
            try:
                self._fold(s, flags)
            except Exception as e:
                self.release(key, f"{type(e).__name__}: {e}")

    def _classify(self, row: int, s: RowState, plan: _Plan) -> None:
        n = len(s.output)
        if s.phase == DONE or s.pending:
            snap = snapshot(s)
            token = s.stop_id if s.phase == DONE else s.pending.popleft()
            s.decisions[n] = Decision(token, snap)
            if s.phase != DONE and n + 1 >= s.max_tokens:
                s.phase, s.stop_reason = DONE, STOP_CONTEXT if s.context_end else STOP_MAX_TOKENS
            self._write_record(s, n + 1)
            plan.force_rows.append(row)
            plan.force_tokens.append(token)
            return
        temperature, top_p = self._temperature(s), s.req.top_p
        if s.phase != THINK:  # the answer: the engine samples it, unless at another temperature
            s.decisions[n] = Decision(None)
            if temperature != s.req.thinking_temperature:
                plan.draw.append((row, s, [], -1, temperature, top_p, False))
            return
        banned = self.rules.banned(s)
        if banned:  # one token must come after an ignore string: no stop can be drawn
            plan.ban_rows.append(row)
            plan.ban_ids.append(self._stops)
            target, src = -1, []
        else:
            ignore = self.rules.ignore_ids(s.req, s.num_forced)
            if self._would_suppress(s, ignore):
                target, src = (
                    (ignore[0], [t for t in self._stops if t != ignore[0]]) if ignore else (-1, self._stops)
                )
            else:  # a stop ends thinking; end-of-turn / EOS stand for the delimiter
                target, src = (
                    self.rules.delims.think_end_ids[0],
                    [t for t in self._eos if t != self.rules.delims.think_end_ids[0]],
                )
        redraw = bool(src) and target == -1
        last = n + 1 >= s.max_tokens  # the engine's last token for it: decided here, so its record is whole
        if last or redraw or (src and temperature > 0 and top_p < 1):
            s.decisions[n] = Decision(None, None, target if src else None, src[0] if src else None, redraw)
            plan.draw.append((row, s, src, target, temperature, top_p, last))
        elif src:
            s.decisions[n] = Decision(None, None, target, src[0])
            plan.merge.append((row, s, src, target, temperature, top_p, False))
        else:
            s.decisions[n] = Decision(None)

    def _would_suppress(self, s: RowState, ignore: list[int]) -> bool:
        return should_suppress(s.req, len(s.thinking_ids), s.num_forced, len(ignore))

    def _run(self, logits: torch.Tensor, plan: _Plan) -> None:
        dev = logits.device
        # Every index and setting of the step goes to the device in one transfer (`forcing_ops.Upload`), not one
        # small copy per tensor: each copy from pageable memory waits for the host.
        up = ops.Upload()
        ban = (up.add(plan.ban_rows), up.table(plan.ban_ids)) if plan.ban_rows else None
        groups = []
        for kind, items in (("merge", plan.merge), ("draw", plan.draw)):
            if items:
                groups.append((kind, items, up.add([it[0] for it in items]), up.table([it[2] for it in items]),
                               up.add([it[3] for it in items]), up.add([float(it[4]) for it in items]),
                               up.add([it[1].req.seed for it in items]), up.add([len(it[1].output) for it in items]),
                               up.add([it[1].uid for it in items])))  # fmt: skip
        force = (up.add(plan.force_rows), up.add(plan.force_tokens)) if plan.force_rows else None
        got = up.send(dev)
        if ban:
            ops.ban(logits, got[ban[0]], got[ban[1]])
        for kind, items, rows, src, target, temperature, seeds, positions, uids in groups:
            rows, src, target, seeds, positions, uids = (
                got[i] for i in (rows, src, target, seeds, positions, uids)
            )
            if kind == "merge":
                flags = ops.merge(logits, rows, src, target, got[temperature], seeds, positions)
            else:
                row_list = [it[0] for it in items]
                emitted, flags = ops.draw(logits, rows, src, target, [float(it[4]) for it in items],
                                          [float(it[5]) for it in items], seeds, positions,
                                          every_row=row_list == list(range(logits.shape[0])),
                                          redraw=[it[1].decisions[len(it[1].output)].redraw for it in items])  # fmt: skip
                self._finish_last(items, emitted, flags)
            self._flag_buffer(dev)[uids] = flags
        if force:
            ops.force(logits, got[force[0]], got[force[1]])

    def _finish_last(self, items, emitted: torch.Tensor, flags: torch.Tensor) -> None:
        """A request's last token (the engine stops it after this one) is settled now, not at a commit
        the processor never sees: one transfer, only in a step where some request ends so."""
        last = [i for i, it in enumerate(items) if it[6]]
        if not last:
            return
        pick = torch.tensor(last, device=emitted.device)
        values = torch.stack([emitted[pick], flags[pick].long()]).tolist()
        for j, i in enumerate(last):
            s = items[i][1]
            n, token, flag = len(s.output), values[0][j], bool(values[1][j])
            snap = snapshot(s)
            try:
                follow(self.rules, s, n, token, s.decisions[n].stop if flag else None)
            except RuntimeError as e:
                self.release(self.where.get(s.park_key), str(e))
                continue
            s.decisions[n] = Decision(token, snap)
            self._write_record(s, n + 1)

    # ---- per request ------------------------------------------------------------------------
    def _fold(self, s: RowState, flags: dict[int, bool]) -> None:
        n = len(s.output)
        for pos in range(s.seen, n):
            d = s.decisions.pop(pos, None)
            token = s.output[pos]
            if d is not None and d.forced is not None:
                if token not in (-1, d.forced):
                    raise RuntimeError(
                        f"budget forcing: the engine emitted token {token} where {d.forced} was forced"
                    )
                continue
            if token < 0:
                raise RuntimeError(
                    "budget forcing needs each sampled token before the next step (async scheduling off)"
                )
            stood_for = d.stop if d is not None and d.flag_matters(token) and flags.get(s.uid) else None
            follow(self.rules, s, pos, token, stood_for)
            self._write_record(s, pos + 1)
        s.seen = max(s.seen, n)

    def _read_flags(self, states: list[RowState]) -> dict[int, bool]:
        """The device flags of requests whose merged replacement was committed: one transfer, and
        none in a step where no replacement was committed."""
        uids = []
        for s in states:
            d = s.decisions.get(s.seen)
            if d is not None and len(s.output) > s.seen and d.flag_matters(s.output[s.seen]):
                uids.append(s.uid)
        found = self.flag_values(uids) if uids else None
        return {} if found is None else dict(zip(uids, found.tolist(), strict=True))

    def flag_values(self, uids: list[int]) -> torch.Tensor | None:
        """The device flags of these requests (None before any was written), not yet read."""
        if self._flags is None:
            return None
        return self._flags[torch.tensor(uids, device=self._flags.device)]

    def _flag_buffer(self, device) -> torch.Tensor:
        if self._flags is None or self._flags.shape[0] < self._next_uid:
            grown = torch.zeros(max(64, 2 * self._next_uid), dtype=torch.bool, device=device)
            if self._flags is not None:
                grown[: self._flags.shape[0]] = self._flags.to(device)
            self._flags = grown
        return self._flags

    @staticmethod
    def _temperature(s: RowState) -> float:
        return s.req.thinking_temperature if s.phase == THINK else s.req.answer_temperature

    def _prefix_ids(self, text: str) -> list[int]:
        if text not in self._prefix_cache:
            self._prefix_cache[text] = (
                self.rules.tokenizer.encode(text, add_special_tokens=False) if text else []
            )
        return self._prefix_cache[text]
