"""s1's budget forcing as a vLLM (V1) logits processor: every "Wait" inside one `generate` call.

    from vllm import LLM, SamplingParams
    llm = LLM(model, logits_processors=["inference.vllm_processor:BudgetForcingProcessor"], async_scheduling=False)
    params = SamplingParams(max_tokens=4096, temperature=0, extra_args={"min_thinking_tokens": 512,
                            "max_thinking_tokens": 2048, "num_ignore": 2})
    llm.generate(prompt_ending_in_think_start, params)

    vllm serve MODEL --logits-processors inference.vllm_processor:BudgetForcingProcessor --no-async-scheduling

Per request, the settings come from `SamplingParams.extra_args` (the OpenAI server's `vllm_xargs`):
`min_thinking_tokens`, `max_thinking_tokens`, `num_ignore`, `ignore_strings` (a string or a list,
used in turn), `max_answer_tokens`, `answer_temperature` (default: `temperature`) and
`final_answer_prefix` (default: the recipe's). The thinking temperature, top-p and seed are the
request's own `temperature`, `top_p` and `seed`. A request with none of these keys decodes untouched.
The delimiters are the recipe's: `inference.serve` and the offline engine pass the recipe's format in
the environment (`THINKSCALE_FORMAT`, JSON of `FormatArgs`); without it the s1 format is used.

Bad settings are refused when the request is admitted (`validate_params`), naming the field; the
OpenAI server answers them with HTTP 400 and keeps serving. Settings that would change the
distribution the processor samples from are refused with budgets: penalties, `logit_bias`,
`top_k`, `min_p`, `min_tokens`, allowed / bad words and structured outputs.

The rules and the proof that the sampling distribution is s1's are in `inference.forcing`.
Speculative decoding is refused (one token per request per step is assumed), and async scheduling
must be off (the processor follows the committed output; `inference.backend` turns it off).
"""

from __future__ import annotations

import logging
import os

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from inference.budget import BudgetRules, TokenDelimiters
from inference.forcing import RECORDS_ENV, ForcingBatch, budget_request, format_from_env

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
    )
    for name, bad in checks:
        if bad(getattr(params, name, None)):
            hint = " (use vllm_xargs.min_thinking_tokens)" if name == "min_tokens" else ""
            raise ValueError(
                f"{name} cannot be combined with budget forcing{hint}: the processor samples each token "
                "itself from temperature and top_p, as s1 does"
            )


class BudgetForcingProcessor(LogitsProcessor):
    """vLLM's logits-processor interface around `inference.forcing.ForcingBatch`."""

    @classmethod
    def validate_params(cls, params) -> None:
        req = budget_request(params.extra_args, params.temperature, params.top_p, params.seed)
        if req is None:
            return
        _refuse_distribution_changes(params)
        if (params.extra_args or {}).get("record") and not os.environ.get(RECORDS_ENV):
            raise ValueError(f"vllm_xargs.record is for the offline engine only ({RECORDS_ENV} is not set)")

    def __init__(self, vllm_config, device: torch.device, is_pin_memory: bool):
        from inference.models import load_tokenizer, source_eos_ids

        if getattr(vllm_config, "speculative_config", None) is not None:
            raise ValueError("budget forcing does not support speculative decoding")
        model_config = vllm_config.model_config
        tokenizer = load_tokenizer(model_config.tokenizer)
        fmt = format_from_env()
        delims = TokenDelimiters.build(tokenizer, fmt, extra_eos=source_eos_ids(model_config.model))
        self.batch = ForcingBatch(
            BudgetRules(tokenizer, delims), records_dir=os.environ.get(RECORDS_ENV),
            max_model_len=model_config.max_model_len,
        )  # fmt: skip
        log.info("budget forcing in the sampler: think_end %r -> %s", fmt.think_end, delims.think_end_ids)

    def is_argmax_invariant(self) -> bool:
        return False  # it replaces stop tokens and forces delimiters: greedy results change

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is not None:
            # the interface's order: removed, then added, then moved
            for index in batch_update.removed:
                self.batch.remove(index)
            for index, params, prompt_ids, output_ids in batch_update.added:
                try:
                    self.batch.add(index, params, prompt_ids, output_ids)
                except ValueError as e:  # validate_params refused it already; never fail the batch
                    log.error("budget forcing ignores request at row %d: %s", index, e)
                    self.batch.rows.pop(index, None)
            for a, b, direction in batch_update.moved:
                self.batch.move(a, b, swap=direction == MoveDirectionality.SWAP)
        self.batch.fold()

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return self.batch.apply(logits)
