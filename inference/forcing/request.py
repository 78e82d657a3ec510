"""What a request asks of budget forcing in a sampler: its settings, checked, as a `BudgetRequest`.

Per request, the settings come from `SamplingParams.extra_args` (the OpenAI server's `vllm_xargs`);
`budget_request` turns them into the rules' request or refuses them naming the field. Also the
environment the processor reads in vLLM's processes (the recipe's format, the records folder).

Run: imported by `inference.forcing.batch` and `inference.vllm.processor`; tested in tests/test_forcing.py.
"""

from __future__ import annotations

import json
import os
import re

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.errors import ConfigError
from thinkscale.inference.forcing.budget import BudgetRequest, validate_budgets

UNBOUNDED = 2**31 - 1  # a budget that is not given: the context (or max_tokens) ends the request
STOP_MAX_TOKENS = "max_tokens"  # vLLM's max_tokens (below the context) ended the request

# The per-request settings a client may pass (vLLM's SamplingParams.extra_args, the server's vllm_xargs).
XARG_INTS = ("min_thinking_tokens", "max_thinking_tokens", "num_ignore", "max_answer_tokens")
XARG_KEYS = (*XARG_INTS, "ignore_strings", "answer_temperature", "final_answer_prefix", "record", "segments")
SERVER_SEGMENTS_ENV = (
    "THINKSCALE_SERVE_SEGMENTS"  # set by `thinkscale serve`: the tokenizer the middleware reads with
)
# extra_args keys that vLLM itself reads: passed through untouched.
VLLM_OWN_KEYS = frozenset({"kv_transfer_params", "ec_transfer_params", "kv_cache_report_mode", "session_id"})
RECORDS_ENV = "THINKSCALE_FORCING_RECORDS"  # folder the offline engine reads results from
# The identity the processor's admission check (`admit`, in the frontend) gives every budgeted request, in
# extra_args: 8 random bytes, and 8 more holding the seed it drew where it drew one (n > 1 without a seed).
# Bytes, which no JSON client can send: a value of another type under this key is a client's, refused.
IDENTITY_KEY = "thinkscale_request"
FORMAT_ENV = "THINKSCALE_FORMAT"  # the recipe's FormatArgs as JSON, for the processor in vLLM's processes
# The stable names a vLLM deployment gives (thinkscale/vllm.py re-exports both; docs/vllm.md).
PROCESSOR = "thinkscale.vllm:BudgetForcingProcessor"  # what vLLM's --logits-processors loads
REASONING_PLUGIN = "thinkscale.vllm"  # --reasoning-parser-plugin: importing it registers the parser
REASONING_PARSER = "thinkscale"  # --reasoning-parser
_RECORD_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def format_from_env():
    """The recipe's format as `inference.vllm.serve` / the offline engine passed it in FORMAT_ENV (else s1's)."""

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
    extra_args: dict | None, temperature: float, top_p: float, seed: int | None, fallback_seed: int = 0
) -> BudgetRequest | None:
    """The budgets a request asked for, or None when it asked for none (it then decodes untouched).
    A request without a seed draws from `fallback_seed` (the processor derives it from the request's
    identity, so that every tensor-parallel rank draws alike).

    Raises ValueError naming the field for an unknown key, a wrong type or an impossible budget.
    """
    extra = {k: v for k, v in (extra_args or {}).items() if k not in VLLM_OWN_KEYS and k != IDENTITY_KEY}
    # `segments` asks `thinkscale serve` for the segments in the response (inference/vllm/segments.py);
    # it is no budget, and the processor has nothing to do for it.
    if extra.pop("segments", False) not in (True, False):  # (vLLM may hand a JSON true on as 1)
        raise ConfigError(f"{_xarg('segments')} must be true or false")
    if not extra:
        return None
    unknown = sorted(set(extra) - set(XARG_KEYS))
    if unknown:
        raise ConfigError(
            f"{_xarg(unknown[0])} is not a budget-forcing setting (known: {', '.join(XARG_KEYS)})"
        )
    for name in XARG_INTS:
        value = extra.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{_xarg(name)} must be an integer, got {value!r}")
    strings = extra.get("ignore_strings", ["Wait"])
    if isinstance(strings, str):
        strings = [strings]
    if not isinstance(strings, list) or not all(isinstance(x, str) for x in strings):
        raise ConfigError(f"{_xarg('ignore_strings')} must be a string or a list of strings, got {strings!r}")
    answer_t = extra.get("answer_temperature", temperature)
    if isinstance(answer_t, bool) or not isinstance(answer_t, int | float):
        raise ConfigError(f"{_xarg('answer_temperature')} must be a number, got {answer_t!r}")
    for name in ("final_answer_prefix", "record"):
        if name in extra and not isinstance(extra[name], str):
            raise ConfigError(f"{_xarg(name)} must be a string, got {extra[name]!r}")
    if "record" in extra and not _RECORD_KEY.match(extra["record"]):
        raise ConfigError(f"{_xarg('record')} must be 1-128 letters, digits, '.', '_' or '-'")
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
        answer_temperature=float(answer_t), top_p=top_p, seed=seed if seed is not None else fallback_seed,
    )  # fmt: skip


def admit(params) -> None:
    """Give a budgeted request its identity, in the frontend process (vLLM's admission check,
    `validate_params`, runs once per request there, before the request is copied for the engine and
    fanned out into its `n` samples). The identity finds the request's forcing state again after a
    preemption, in whatever slot it resumes; every tensor-parallel rank reads the same bytes.

    The samples of one `n > 1` request share the identity; vLLM seeds them `seed + i`, so where the
    client sent no seed one is drawn here, and they stay apart and independent. The check may run
    again on the same params object (`LLM.generate` with one SamplingParams for many prompts): a fresh
    identity replaces the last one, and a seed drawn here is drawn again."""
    extra = params.extra_args
    if extra is None:
        return
    old = extra.get(IDENTITY_KEY)
    if old is not None and not isinstance(old, bytes):
        raise ConfigError(
            f"{_xarg(IDENTITY_KEY)} is set by the server for each request; a client may not send it"
        )
    if old is not None and len(old) == 16 and params.seed == int.from_bytes(old[8:], "little"):
        params.seed = None  # the seed this check drew for the last request, not the caller's
    nonce = os.urandom(8)
    if (getattr(params, "n", 1) or 1) > 1 and params.seed is None:
        params.seed = int.from_bytes(os.urandom(6), "little")
        nonce += params.seed.to_bytes(8, "little")
    extra[IDENTITY_KEY] = nonce


def identity(params) -> tuple | None:
    """The request's identity (its admission nonce and seed), or None where admission never ran."""
    nonce = (params.extra_args or {}).get(IDENTITY_KEY)
    return (bytes(nonce[:8]), params.seed) if isinstance(nonce, bytes | bytearray) else None


def identity_seed(ident: tuple | None) -> int | None:
    """A seed for a request sent without one, the same on every rank: from its admission nonce."""
    return None if ident is None else int.from_bytes(ident[0][:6], "little")
