"""Segments in the server's responses, when a request asks: what the budget rules forced, and where.

    curl ... -d '{"model": "smollm2-135m", "messages": [...], "max_tokens": 256,
                  "vllm_xargs": {"min_thinking_tokens": 32, "num_ignore": 1, "segments": true}}'
    -> choices[0].segments: [{"kind": "thinking", "text": ..., "tokens": 12, "forced": false},
                             {"kind": "ignore_string", "text": "Wait", "tokens": 1, "forced": true}, ...]

Off by default: a request without `"segments": true` is passed through untouched, so OpenAI clients
see vLLM's own responses. `thinkscale serve` loads this as vLLM's `--middleware`; it needs the
budget-forcing processor's records (`THINKSCALE_FORCING_RECORDS`, a folder `thinkscale serve` makes)
and the served model's tokenizer (`THINKSCALE_SERVE_SEGMENTS`). For a request that asks, the
middleware adds a record key and `return_token_ids` to it; the processor writes the request's
budget state when its thinking ends; the middleware follows the returned tokens after it with the
same rules as the offline engine (`forcing_state.state_from_record`) and adds `segments` to the
choice — the same segments the offline engines give. `segments` needs `n` = 1 and `stream` false
(an HTTP 400 says so otherwise); the token ids are removed again unless the client asked for them.
"""

from __future__ import annotations

import json
import os
import uuid
from functools import lru_cache

from thinkscale.inference.forcing.budget import BudgetRules, DecodeState, TokenDelimiters, segment_records
from thinkscale.inference.forcing.request import (
    RECORDS_ENV,
    SERVER_SEGMENTS_ENV,
    budget_request,
    format_from_env,
)
from thinkscale.inference.forcing.state import state_from_record
from thinkscale.inference.models.load import load_tokenizer, source_eos_ids

PATHS = ("/v1/chat/completions", "/v1/completions")


@lru_cache(maxsize=1)
def _rules():
    """The served model's tokenizer and the recipe's rules, loaded on the first request that asks."""

    source = os.environ[SERVER_SEGMENTS_ENV]
    tokenizer = load_tokenizer(source)
    delims = TokenDelimiters.build(tokenizer, format_from_env(), extra_eos=source_eos_ids(source))
    return tokenizer, BudgetRules(tokenizer, delims)  # as the processor builds them


def _error(message: str, param: str = "vllm_xargs.segments"):
    """An HTTP 400 in vLLM's error shape."""
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": "BadRequestError", "param": param, "code": 400}},
                        status_code=400)  # fmt: skip


def segments_for(body: dict, choice: dict, record: dict | None) -> list[dict]:
    """One choice's segments from the processor's record and the tokens the engine returned (without a
    record: followed from the first token)."""

    tokenizer, rules = _rules()
    xargs = dict(body.get("vllm_xargs") or {})
    req = budget_request(xargs, float(body.get("temperature", 1.0) or 0.0), float(body.get("top_p", 1.0) or 1.0),
                         body.get("seed"))  # fmt: skip
    if req is None:  # no budgets: everything the model wrote is its own
        ids = list(choice.get("token_ids") or [])
        return [{"kind": "answer", "text": tokenizer.decode(ids, skip_special_tokens=False), "tokens": len(ids),
                 "forced": False}] if ids else []  # fmt: skip
    state = DecodeState(req=req, fresh_round=req.num_ignore > 0)
    if record is None:
        rules.begin(state)
        record = {"through": 0, "pending": list(state.pending)}
    tokens = list(choice.get("token_ids") or [])
    state_from_record(rules, state, record, tokens, max_tokens=1 << 62, context_end=False)
    return segment_records(tokenizer, state)


async def segments_middleware(request, call_next):
    """vLLM `--middleware`: adds `segments` to the choices of requests that ask for them."""
    if request.method != "POST" or request.url.path not in PATHS:
        return await call_next(request)
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return await call_next(request)  # vLLM answers a malformed body itself
    xargs = body.get("vllm_xargs") if isinstance(body, dict) else None
    if isinstance(xargs, dict) and "record" in xargs:  # the records folder is the server's, not its clients'
        return _error(
            "vllm_xargs.record is set by the server (ask for vllm_xargs.segments instead)",
            "vllm_xargs.record",
        )
    if not isinstance(xargs, dict) or xargs.get("segments") is not True:
        return await call_next(request)

    if body.get("stream"):
        return _error("vllm_xargs.segments needs stream false (segments come with the whole response)")
    if int(body.get("n", 1) or 1) != 1:
        return _error("vllm_xargs.segments needs n = 1")
    records = os.environ.get(RECORDS_ENV)
    if not records:
        return _error("vllm_xargs.segments needs the server started by `thinkscale serve`")
    key = f"serve-{uuid.uuid4().hex}"
    asked_ids = body.get("return_token_ids") is True
    forwarded = {k: v for k, v in xargs.items() if k != "segments"}  # consumed here
    sent = dict(body, return_token_ids=True, vllm_xargs=dict(forwarded, record=key))
    request._body = json.dumps(sent).encode()  # what the route reads (starlette replays the cached body)
    response = await call_next(request)
    path = os.path.join(records, f"{key}.json")
    try:
        chunks = [chunk async for chunk in response.body_iterator]
        if response.status_code != 200:
            return _replay(response, b"".join(chunks))
        out = json.loads(b"".join(chunks))
        choice = out["choices"][0]
        try:
            with open(path) as f:
                record = json.load(f)
        except FileNotFoundError:
            # No record: the request set no budget (nothing was forced), or it ended in its thinking
            # without the processor seeing its end (a client stop string): followed from its first token.
            record = None
        choice["segments"] = segments_for(body, choice, record)
        if not asked_ids:
            choice.pop("token_ids", None)
            out.pop("prompt_token_ids", None)
            choice.pop("prompt_token_ids", None)
        from starlette.responses import JSONResponse

        return JSONResponse(out, status_code=200)
    finally:
        if os.path.exists(path):
            os.remove(path)


def _replay(response, body: bytes):
    from starlette.responses import Response

    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(body, status_code=response.status_code, headers=headers)
