"""A real `thinkscale serve` under a long, mixed load (`soak` marker: `make soak`; CI runs a shorter one).

    make soak                                   # 1,000 requests (THINKSCALE_SOAK_REQUESTS to change)

The server runs the embedded model on 127.0.0.1 with a small KV cache (requests are preempted). A
seeded random mix of requests goes to it, 16 at a time: random budgets (minimum, maximum, "Wait"s,
answer budget, temperature), `n` 1-4, client stop strings, streaming and not, clients that hang up
mid-stream, and requests aborted by a client timeout. It must answer no 5xx; every completed result
must stay within its budgets; the server's memory (its whole process tree's RSS) after the last
request must be within 10% of what it was after the first 100; and the processor's parked states,
which it logs every 256 admissions, must stay within their bound. The figures go to stdout (and
docs/measured.md by hand).
"""

import json
import os
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from tests.serve_proc import running_server

pytestmark = pytest.mark.soak

REQUESTS = int(os.environ.get("THINKSCALE_SOAK_REQUESTS", "1000"))
CONTEXT = 512
QUESTIONS = [
    "What is 7 + 5?",
    "Compute (4 + 3) * 5 - 6.",
    "Is 91 prime?",
    "What is 12 * 11?",
    "Name a prime.",
]


def _plan(i: int) -> dict:
    rng = random.Random(i)
    hi = rng.choice([0, 8, 32, 64, 128, 200])
    budget = {
        "max_thinking_tokens": hi,
        "min_thinking_tokens": rng.randint(0, hi),
        "max_answer_tokens": rng.choice([4, 16, 48]),
    }
    if rng.random() < 0.5:
        budget["num_ignore"] = rng.randint(0, 3)
        budget["ignore_strings"] = rng.choice([["Wait"], ["Wait", "Hmm"], ["Hmm, let me check"]])
    kind = rng.choices(["plain", "stream", "hangup", "abort", "stop"], [5, 3, 1, 1, 1])[0]
    temperature = rng.choice([0.0, 0.7, 1.0])
    n = rng.choice([1, 1, 2, 4]) if kind == "plain" and temperature > 0 else 1  # (vLLM: greedy means n = 1)
    body = {"messages": [{"role": "user", "content": rng.choice(QUESTIONS)}], "max_tokens": 400,
            "temperature": temperature, "n": n, "vllm_xargs": budget}  # fmt: skip
    if kind == "stop":
        body["stop"] = [rng.choice([" the", ".", "Wait"])]
    return {"kind": kind, "body": body}


def _send(base: str, model: str, i: int) -> dict:
    plan = _plan(i)
    body = dict(plan["body"], model=model)
    kind = plan["kind"]
    url = f"{base}/v1/chat/completions"
    try:
        if kind in ("stream", "hangup"):
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            chunks, usage = 0, None
            with requests.post(url, json=body, stream=True, timeout=600) as r:
                if r.status_code != 200:
                    return {"status": r.status_code, "plan": plan, "text": r.text[:300]}
                for line in r.iter_lines():
                    if line.startswith(b"data: {"):
                        chunks += 1
                        usage = json.loads(line[6:]).get("usage") or usage
                    if kind == "hangup" and chunks >= 3:
                        break  # the client goes away mid-stream
            return {"status": 200, "plan": plan, "usage": usage if kind == "stream" else None}
        timeout = 0.5 if kind == "abort" else 600
        r = requests.post(url, json=body, timeout=timeout)
        out = {"status": r.status_code, "plan": plan, "text": r.text[:300]}
        if r.status_code == 200:
            out["usage"] = r.json()["usage"]
            out["choices"] = r.json()["choices"]
        return out
    except requests.Timeout:
        return {"status": "aborted", "plan": plan}


def _rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)] if p.is_running())


def _within_budget(result: dict) -> bool:
    budget = result["plan"]["body"]["vllm_xargs"]
    usage = result.get("usage")
    if usage is None:
        return True
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    n = result["plan"]["body"]["n"]
    # per choice: thinking up to the maximum (+ the newline a mid-line cut adds); the whole turn up to max_tokens
    ok = usage["completion_tokens"] <= 400 * n
    if reasoning is not None:
        ok &= reasoning <= n * (budget["max_thinking_tokens"] + 1)
    return ok


def test_a_thousand_mixed_requests(tmp_path):
    log = tmp_path / "server.log"
    flags = [
        "--dtype",
        "float32",
        "--max-model-len",
        str(CONTEXT),
        "--kv-cache-gib",
        "0.1",
        "--kv-block-size",
        "32",
    ]
    with running_server(log, *flags) as (proc, base, model):
        t0 = time.monotonic()
        results, rss_100 = [], None
        with ThreadPoolExecutor(16) as pool:
            for start in range(0, REQUESTS, 100):
                results += list(
                    pool.map(lambda i: _send(base, model, i), range(start, min(start + 100, REQUESTS)))
                )
                if rss_100 is None:
                    rss_100 = _rss(proc.pid)
        wall = time.monotonic() - t0
        time.sleep(2)  # let aborted requests drain
        rss_end = _rss(proc.pid)
        healthy = requests.get(f"{base}/health", timeout=5).status_code == 200
        text = (
            log.read_text()
        )  # while it serves: stopping it (SIGTERM to its processes) may log the engine's end
    errors = [r for r in results if isinstance(r["status"], int) and r["status"] >= 500]
    refused = [r for r in results if r["status"] == 400]
    over = [r for r in results if r["status"] == 200 and not _within_budget(r)]
    parked = [(int(a), int(b)) for a, b in re.findall(r"(\d+) parked \(bound (\d+)\)", text)]
    released = re.findall(r"(\d+) released", text)
    counts = {
        k: sum(r["plan"]["kind"] == k for r in results)
        for k in ("plain", "stream", "hangup", "abort", "stop")
    }
    print(f"\nsoak: {len(results)} requests in {wall:.0f} s {counts}; 5xx {len(errors)}, 400 {len(refused)}, "
          f"over budget {len(over)}; RSS after 100 {rss_100 / 2**20:.0f} MiB, after {len(results)} "
          f"{rss_end / 2**20:.0f} MiB ({rss_end / rss_100 - 1:+.1%}); parked max {max((p for p, _ in parked), default=0)} "
          f"(bound {parked[0][1] if parked else '-'}; {len(parked)} reports); released {released[-1] if released else 0}")  # fmt: skip
    assert healthy
    assert not errors, errors[:3]
    assert not refused, refused[:3]  # every request of the mix is a valid one
    assert not over, over[:3]
    assert rss_end <= 1.10 * rss_100
    assert all(p <= bound for p, bound in parked)
    assert "Traceback" not in text
