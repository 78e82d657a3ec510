"""The budget-forcing processor under Model Runner V2's interface (vLLM's default on CUDA), driven as
V2's sampler drives it (tests/v2_runner.py: slots, rows reordered every step, chunked prefill,
preemption), and loaded by vLLM's own V1 and V2 loaders. Needs vLLM installed (`make setup-vllm`);
no engine is started."""

from dataclasses import asdict

import pytest
import torch

pytest.importorskip("vllm")

from thinkscale.common.chat_format import FormatArgs, render_prompt  # noqa: E402
from thinkscale.inference.budget import BudgetRequest  # noqa: E402
from thinkscale.inference.forcing import PROCESSOR, RECORDS_ENV  # noqa: E402
from thinkscale.inference.hf_engine import HFEngine  # noqa: E402
from thinkscale.inference.vllm_engine import VLLMEngine  # noqa: E402
from thinkscale.inference.vllm_processor import BudgetForcingProcessor  # noqa: E402

from tests.scripted import FakeSamplingParams, ScriptedLM  # noqa: E402
from tests.v2_runner import V2Runner  # noqa: E402

FMT = FormatArgs()


def enc(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def strip(result):
    return {k: v for k, v in asdict(result).items() if k != "seconds"}


def run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs, **runner_kw):
    monkeypatch.setenv(RECORDS_ENV, str(tmp_path))
    llm = V2Runner(BudgetForcingProcessor, str(tiny_model_dir), script, n, len(tokenizer), **runner_kw)
    engine = VLLMEngine(llm, tokenizer, FMT, sampling_params_cls=FakeSamplingParams, mode="sampler",
                        records_dir=str(tmp_path), max_context=4096)  # fmt: skip
    results = engine.generate(reqs)
    assert list(tmp_path.iterdir()) == []  # every record was read and removed
    return results, llm


BUDGETS = [
    dict(max_thinking_tokens=50), dict(num_ignore=6, max_thinking_tokens=200), dict(min_thinking_tokens=7),
    dict(max_thinking_tokens=1), dict(max_thinking_tokens=0), dict(max_answer_tokens=1, num_ignore=1),
    dict(min_thinking_tokens=5, max_thinking_tokens=6), dict(num_ignore=2, ignore_strings=["Wait", "Hmm"]),
    dict(num_ignore=2, ignore_strings=[""]),
]  # fmt: skip


@pytest.mark.parametrize("preempt", [False, True], ids=["no-preemption", "preempted-mid-thinking"])
def test_v2_equals_the_hf_engine_on_every_budget_case(tokenizer, tiny_model_dir, tmp_path, monkeypatch, preempt):
    """Greedy: the V2 path gives the HF engine's result field by field on every budget case in one
    batch, with rows reordered each step, chunked prefill and (second case) every request preempted
    after 3 tokens and resumed in a new slot with new params objects."""
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(enc(tokenizer, prompt))
    X, S, EOT, FOUR = (enc(tokenizer, t)[0] for t in (" step", "<|im_start|>", "<|im_end|>", "4"))
    script = [X, X, S, 0, 0, FOUR, EOT]
    reqs = [BudgetRequest(prompt, **b) for b in BUDGETS]
    hf = [HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT).generate([r])[0] for r in reqs]
    preempt_at = {i: 3 for i in range(len(reqs))} if preempt else None
    ours, llm = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs, preempt_at=preempt_at)
    assert [strip(r) for r in ours] == [strip(r) for r in hf]
    assert ours[1].num_forced == 6 and ours[7].num_forced == 2 and ours[8].num_forced == 2
    if preempt:
        assert llm.adds > len(reqs)  # the preempted requests came back


def test_v2_end_of_turn_in_thinking_gets_the_final_answer_prefix(tokenizer, tiny_model_dir, tmp_path, monkeypatch):
    """A greedy model that ends its turn inside thinking: the end-of-turn is merged into the
    delimiter, and the flag read at the commit says it stood for end-of-turn, so the final-answer
    prefix follows (the HF engine's result), where a model writing the delimiter itself gets none."""
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(enc(tokenizer, prompt))
    X, S, EOT, FOUR = (enc(tokenizer, t)[0] for t in (" step", "<|im_start|>", "<|im_end|>", "4"))
    reqs = [BudgetRequest(prompt, max_thinking_tokens=40, max_answer_tokens=4)]
    for script, reason in (([X, X, EOT, FOUR, EOT], "end_of_turn"), ([X, X, S, 0, 0, FOUR, EOT], "delimiter")):
        hf = HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT).generate(reqs)
        ours, _ = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs)
        assert [strip(r) for r in ours] == [strip(r) for r in hf]
        assert ours[0].think_end_reason == reason
        assert ours[0].answer.startswith(FMT.final_answer_prefix.strip()) == (reason == "end_of_turn")


def test_v2_sampled_runs_are_reproducible(tokenizer, tiny_model_dir, tmp_path, monkeypatch):
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(enc(tokenizer, prompt))
    script = [enc(tokenizer, " step")[0]] * 5 + [enc(tokenizer, "<|im_start|>")[0]]
    reqs = [BudgetRequest(prompt, min_thinking_tokens=12, max_thinking_tokens=30, max_answer_tokens=6,
                          thinking_temperature=0.9, answer_temperature=0.5, top_p=0.95, seed=s) for s in (1, 2)]  # fmt: skip
    first, _ = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs)
    again, _ = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs, seed=5)
    assert [strip(r) for r in first] == [strip(r) for r in again]  # another row order, same samples


def test_v2_leaves_requests_without_budgets_or_with_bad_ones_alone(tokenizer, tiny_model_dir, monkeypatch):
    runner = V2Runner(BudgetForcingProcessor, str(tiny_model_dir), [0], 1, len(tokenizer))
    plain = FakeSamplingParams(extra_args=None, temperature=0.0, top_p=1.0, seed=None, max_tokens=8, stop_token_ids=[])
    assert runner.processor.add_request(0, plain) is False
    # settings validate_params would have refused never fail the batch: the request is left alone
    bad = FakeSamplingParams(extra_args={"min_thinking_tokens": 9, "max_thinking_tokens": 4}, temperature=0.0,
                             top_p=1.0, seed=None, max_tokens=8, stop_token_ids=[])  # fmt: skip
    assert runner.processor.add_request(1, bad) is False and 1 not in runner.processor.batch.rows


def test_the_documented_names_are_what_vllm_loads():
    """`thinkscale.vllm:BudgetForcingProcessor` and `--reasoning-parser-plugin thinkscale.vllm
    --reasoning-parser thinkscale` (docs/vllm.md), through vLLM's own plugin import."""
    from thinkscale.inference.vllm_reasoning import ThinkAnswerParser
    from vllm.reasoning import ReasoningParserManager

    from thinkscale.vllm import REASONING_PARSER, REASONING_PLUGIN

    assert PROCESSOR == "thinkscale.vllm:BudgetForcingProcessor"
    ReasoningParserManager.import_reasoning_parser(REASONING_PLUGIN)
    assert ReasoningParserManager.get_reasoning_parser(REASONING_PARSER) is ThinkAnswerParser


def test_vllms_own_loaders_accept_the_class_for_both_runners():
    """vLLM 0.32's V2 loader refuses a class without the V2 interface (ValueError at start-up), and its
    V1 loader one without V1's: ours passes both, and V2's admission check refuses bad budgets."""
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import SamplingParams
    from vllm.v1.sample.logits_processor import _load_logitsprocs_by_fqcns
    from vllm.v1.worker.gpu.sample.logits_processor import build_custom_logits_processors_params_validator
    from vllm.v1.worker.gpu.sample.logits_processor.loader import _load_v2_logitsprocs_by_fqcns

    assert _load_v2_logitsprocs_by_fqcns([PROCESSOR]) == [BudgetForcingProcessor]
    assert _load_logitsprocs_by_fqcns([PROCESSOR]) == [BudgetForcingProcessor]
    validate = build_custom_logits_processors_params_validator([PROCESSOR])
    validate(SamplingParams(extra_args={"max_thinking_tokens": 8}))
    with pytest.raises(VLLMValidationError, match="vllm_xargs.min_thinking_tokens"):
        validate(SamplingParams(extra_args={"min_thinking_tokens": 9, "max_thinking_tokens": 4}))
    with pytest.raises(VLLMValidationError, match="thinking_token_budget"):
        validate(SamplingParams(thinking_token_budget=8, extra_args={"max_thinking_tokens": 8}))


def test_an_unknown_runner_gets_one_line_naming_the_version_and_the_setting():
    with pytest.raises(ValueError) as e:
        BudgetForcingProcessor(object(), "a", "b", "c")
    message = str(e.value)
    assert "vLLM 0.32" in message and "VLLM_USE_V2_MODEL_RUNNER=0" in message and "\n" not in message


def test_v2_apply_touches_only_the_rows_the_rules_need(tokenizer, tiny_model_dir):
    """A greedy request past its minimum leaves every logit but the stop tokens' and the delimiter's
    as they were; a request of no budget keeps its row whole."""
    runner = V2Runner(BudgetForcingProcessor, str(tiny_model_dir), [0], 1, len(tokenizer), max_num_reqs=2)
    params = FakeSamplingParams(extra_args={"max_thinking_tokens": 64}, temperature=0.0, top_p=1.0, seed=1,
                                max_tokens=100, stop_token_ids=[], all_stop_token_ids=set())  # fmt: skip
    for slot, p in ((0, params), (1, FakeSamplingParams(extra_args=None, temperature=0.0, top_p=1.0, seed=None))):
        runner.prompt_lens.np[slot] = runner.prefill_lens.np[slot] = 4
        runner.processor.add_request(slot, p)
    runner.processor.apply_staged_writes()
    logits = torch.randn(2, len(tokenizer))
    ctx = runner._context([{"slot": 1}, {"slot": 0}], [4, 4], [[1, 2, 3, 4]] * 2)
    out = runner.processor.apply(logits.clone(), ctx)
    touched = (out != logits).nonzero().tolist()
    stops = set(runner.processor.batch.rules.delims.think_stop_ids)
    assert {row for row, _ in touched} == {1}  # row 1 holds slot 0, the budgeted request
    assert {tok for _, tok in touched} <= stops
