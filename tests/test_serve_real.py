"""The budget-forcing server (`thinkscale serve`) for real: vLLM's OpenAI server on 127.0.0.1,
a free port, the embedded model in fp32, started and stopped here (`vllm` marker, `make test-vllm`).

Budgets are checked against the HF engine on the same prompts (greedy, fp32): the server's thinking,
answer and thinking-token count must be the offline engine's, per request, also with 8 requests of
different budgets in flight at once.
"""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.serve_proc import running_server
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest
from thinkscale.inference.hf.engine import HFEngine

pytestmark = pytest.mark.vllm

FMT = FormatArgs()
CONTEXT = 512
QUESTION = "What is 7 + 5?"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    try:
        with running_server(
            log, "--dtype", "float32", "--max-model-len", str(CONTEXT), "--kv-cache-gib", "1"
        ) as (_, base, model):
            yield base, model
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def hf(embedded_fp32):
    model, tok = embedded_fp32
    return HFEngine(model, tok, FMT, max_context=CONTEXT), tok


def chat(server, budget: dict, question: str = QUESTION, **body) -> requests.Response:
    base, model = server
    payload = {"model": model, "messages": [{"role": "user", "content": question}], "temperature": 0,
               "max_tokens": 300, "vllm_xargs": budget, **body}  # fmt: skip
    return requests.post(f"{base}/v1/chat/completions", json=payload, timeout=300)


def expected(hf, budgets: list[dict], question: str = QUESTION):
    engine, tok = hf
    reqs = [
        BudgetRequest(render_prompt(tok, FMT, question), **{"max_answer_tokens": 10_000, **b})
        for b in budgets
    ]
    return engine.generate(reqs)


def reasoning_tokens(want, tok) -> int:
    """The server's reasoning_tokens for an offline result: the tokens before the delimiter, i.e. the
    thinking tokens plus the newline a mid-line cut puts before the delimiter (what is left of the
    generated tokens after thinking, delimiter, final-answer prefix, answer and end-of-turn)."""
    delim = len(tok.encode(FMT.think_end, add_special_tokens=False))
    prefix = (
        0
        if want.think_end_reason == "delimiter"
        else len(tok.encode(FMT.final_answer_prefix, add_special_tokens=False))
    )
    newline = (
        want.generated_tokens
        - want.thinking_tokens
        - delim
        - prefix
        - want.answer_tokens
        - (want.stop_reason == "end_of_turn")
    )
    assert newline in (0, 1) and (newline == 0 or want.hit_max), want
    return want.thinking_tokens + newline


def assert_matches(response: dict, want, tok) -> None:
    message = response["choices"][0]["message"]
    assert (message["reasoning"] or "").strip() == want.thinking
    assert (message["content"] or "").strip() == want.answer
    assert response["usage"]["completion_tokens_details"]["reasoning_tokens"] == reasoning_tokens(want, tok)


# The embedded model is not tuned to think: left alone it ends thinking at once, so most budgets
# here set a minimum (forced Waits) to give the maximum something to cut.
BUDGETS = [
    {"min_thinking_tokens": 16, "max_thinking_tokens": 16},
    {"min_thinking_tokens": 40, "max_thinking_tokens": 64},
    {"num_ignore": 2, "max_thinking_tokens": 96},
    {"num_ignore": 1, "ignore_strings": ["Hmm"], "max_thinking_tokens": 48},
    {"max_thinking_tokens": 0},
    {"min_thinking_tokens": 24, "max_thinking_tokens": 24, "max_answer_tokens": 5},
    {"min_thinking_tokens": 8, "max_thinking_tokens": 8},
    {"min_thinking_tokens": 32, "max_thinking_tokens": 32, "final_answer_prefix": "So the answer is"},
]


def test_budgets_are_enforced_exactly(server, hf):
    want = expected(hf, BUDGETS[:3])
    for budget, w in zip(BUDGETS[:3], want, strict=True):
        r = chat(server, budget)
        assert r.status_code == 200, r.text
        assert_matches(r.json(), w, hf[1])
    assert want[0].hit_max and want[0].thinking_tokens == 16
    assert want[2].num_forced == 2 and want[2].thinking.count("Wait") >= 2


def test_eight_concurrent_requests_with_different_budgets(server, hf):
    plain = [{k: v for k, v in b.items() if k != "final_answer_prefix"} for b in BUDGETS]
    want = expected(hf, plain)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda b: chat(server, b), BUDGETS))
    for i, (r, w) in enumerate(zip(got, want, strict=True)):
        assert r.status_code == 200, (i, r.text)
        body = r.json()
        if "final_answer_prefix" in BUDGETS[i]:  # its own prefix in place of "Final Answer:"
            assert body["choices"][0]["message"]["content"].startswith("So the answer is")
            assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == reasoning_tokens(
                w, hf[1]
            )
            continue
        assert_matches(body, w, hf[1])
    assert (
        got[5].json()["usage"]["completion_tokens"] == want[5].generated_tokens + 1
    )  # + the end-of-turn that stops it


def test_segments_when_asked_are_the_offline_engines(server, hf):
    """`vllm_xargs.segments`: the response's segments (forced Waits, the cut, the prefix) equal the HF
    engine's for the same budgets; without it the response has no such field."""
    budgets = [
        BUDGETS[0],
        BUDGETS[2],
        {"num_ignore": 1, "ignore_strings": ["Hmm"], "max_thinking_tokens": 48},
    ]
    want = expected(hf, budgets)
    for budget, w in zip(budgets, want, strict=True):
        r = chat(server, {**budget, "segments": True})
        assert r.status_code == 200, r.text
        choice = r.json()["choices"][0]
        assert choice["segments"] == w.segments and "token_ids" not in choice
        assert_matches(r.json(), w, hf[1])
    assert any(s["kind"] == "ignore_string" and s["forced"] for s in want[1].segments)
    assert want[0].segments[-3]["reason"] == "max_thinking_tokens" or any(
        s.get("reason") == "max_thinking_tokens" for s in want[0].segments)  # fmt: skip
    plain = chat(server, budgets[0])
    assert "segments" not in plain.json()["choices"][0]
    refused = chat(server, {**budgets[0], "segments": True}, n=2)
    assert refused.status_code == 400 and "n = 1" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "budget, field",
    [
        ({"min_thinking_tokens": 50, "max_thinking_tokens": 10}, "vllm_xargs.min_thinking_tokens"),
        ({"max_thinking_tokens": -5}, "vllm_xargs.max_thinking_tokens"),
        ({"num_ignore": -1}, "vllm_xargs.num_ignore"),
        ({"max_thinking": 10}, "vllm_xargs.max_thinking"),
        ({"record": "x"}, "vllm_xargs.record"),
    ],
)
def test_a_bad_budget_is_a_400_naming_the_field_and_the_server_keeps_serving(server, budget, field):
    r = chat(server, budget)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"]
    ok = chat(server, {"min_thinking_tokens": 4, "max_thinking_tokens": 4})
    # 4 thinking tokens cut mid-line: the newline before the delimiter is counted too
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5


def test_distribution_changing_settings_are_refused(server):
    r = chat(server, {"max_thinking_tokens": 8}, top_k=5, temperature=0.7)  # (greedy ignores top_k: allowed)
    assert r.status_code == 400 and "top_k" in r.json()["error"]["message"]
    r = chat(server, {"max_thinking_tokens": 8}, repetition_penalty=1.1)
    assert r.status_code == 400 and "repetition_penalty" in r.json()["error"]["message"]


def _stream(server, budget: dict, stop_after: int | None = None) -> tuple[str, str, int]:
    """Stream a chat request; return (reasoning, content, chunks), or hang up after `stop_after` chunks."""
    base, model = server
    payload = {"model": model, "messages": [{"role": "user", "content": QUESTION}], "temperature": 0,
               "max_tokens": 300, "stream": True, "vllm_xargs": budget}  # fmt: skip
    reasoning, content, chunks = "", "", 0
    with requests.post(f"{base}/v1/chat/completions", json=payload, stream=True, timeout=300) as r:
        assert r.status_code == 200, r.text
        for line in r.iter_lines():
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"]
            reasoning += delta.get("reasoning") or ""
            content += delta.get("content") or ""
            chunks += 1
            if stop_after is not None and chunks >= stop_after:
                break  # leaving the block closes the connection mid-stream
    return reasoning, content, chunks


def test_streaming_matches_and_a_client_hanging_up_hurts_no_one(server, hf):
    budget = {"num_ignore": 2, "max_thinking_tokens": 96}
    want = expected(hf, [budget])[0]
    with ThreadPoolExecutor(3) as pool:
        quitters = [pool.submit(_stream, server, {"min_thinking_tokens": 200, "max_thinking_tokens": 250}, 5)
                    for _ in range(2)]  # fmt: skip
        full = pool.submit(_stream, server, budget)
        reasoning, content, chunks = full.result()
        assert all(q.result()[2] == 5 for q in quitters)
    assert reasoning.strip() == want.thinking and content.strip() == want.answer and chunks > 10
    after = chat(server, {"min_thinking_tokens": 16, "max_thinking_tokens": 16})  # still serving
    again = expected(hf, [{"min_thinking_tokens": 16, "max_thinking_tokens": 16}])[0]
    assert after.status_code == 200
    assert after.json()["usage"]["completion_tokens_details"]["reasoning_tokens"] == reasoning_tokens(
        again, hf[1]
    )


def test_completions_endpoint_takes_budgets_too(server, hf):
    base, model = server
    engine, tok = hf
    prompt = render_prompt(tok, FMT, QUESTION)
    budget = {"min_thinking_tokens": 30, "max_thinking_tokens": 40}
    r = requests.post(f"{base}/v1/completions", timeout=300, json={
        "model": model, "prompt": prompt, "temperature": 0, "max_tokens": 200, "skip_special_tokens": False,
        "vllm_xargs": budget})  # fmt: skip
    assert r.status_code == 200, r.text
    thinking, sep, answer = r.json()["choices"][0]["text"].partition(FMT.think_end)
    want = expected(hf, [budget])[0]
    assert (
        sep and thinking.strip() == want.thinking and answer.split(FMT.end_of_turn)[0].strip() == want.answer
    )


def test_the_openai_client_example_from_the_readme(server):
    openai = pytest.importorskip("openai")
    base, model = server
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused")
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}], temperature=0, max_tokens=300,
        extra_body={"vllm_xargs": {"min_thinking_tokens": 32, "max_thinking_tokens": 64, "num_ignore": 1}},
    )  # fmt: skip
    message = response.choices[0].message
    assert message.reasoning and message.content
    assert 32 <= response.usage.completion_tokens_details.reasoning_tokens <= 64
