"""Budget-forcing semantics, pinned to exact tokens on a scripted model, on both backends."""

from dataclasses import asdict

import pytest

from tests.scripted import FakeLLM, FakeSamplingParams, ScriptedLM, run_in_sampler
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest
from thinkscale.inference.hf.engine import HFEngine
from thinkscale.inference.vllm.engine import VLLMEngine

FMT = FormatArgs()


@pytest.fixture(scope="module")
def ids(tokenizer):
    enc = lambda s: tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
    return {
        "X": enc(" step")[0], "STOP": enc("<|im_start|>")[0], "EOT": enc("<|im_end|>")[0],
        "FOUR": enc("4")[0], "delim": enc(FMT.think_end), "final": enc(FMT.final_answer_prefix),
        "prompt": render_prompt(tokenizer, FMT, "What is 2 + 2?"),
    }  # fmt: skip


def run_both(tokenizer, ids, script, **budget):
    """Run one request on the HF engine and on the vLLM engine in both modes (rounds, and the
    processor in the sampler) from the same script; all three must agree field by field."""
    req = BudgetRequest(ids["prompt"], **budget)
    n = len(tokenizer.encode(req.prompt, add_special_tokens=False))
    hf = HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT).generate([req])[0]
    rounds = VLLMEngine(FakeLLM(script, n), tokenizer, FMT, sampling_params_cls=FakeSamplingParams)
    in_sampler = run_in_sampler(script, n, tokenizer, FMT, [req])[0][0]
    strip = lambda r: {k: v for k, v in asdict(r).items() if k != "seconds"}  # noqa: E731
    assert strip(hf) == strip(rounds.generate([req])[0]) == strip(in_sampler)
    return hf


def test_max_budget_is_exact(tokenizer, ids):
    r = run_both(tokenizer, ids, [ids["X"]], max_thinking_tokens=10, max_answer_tokens=5)
    assert r.thinking_tokens == 10 and r.hit_max and r.think_end_reason == "max_thinking_tokens"
    assert (
        r.answer.startswith("Final Answer:") and r.answer_tokens == 5 and r.stop_reason == "max_answer_tokens"
    )
    # The cut thinking (" step" x 10) does not end a line: a newline goes before the delimiter, as s1.
    assert r.generated_tokens == 10 + 1 + len(ids["delim"]) + len(ids["final"]) + 5


def test_cut_after_a_newline_adds_none(tokenizer, ids):
    nl = tokenizer.encode("\n", add_special_tokens=False)[0]
    r = run_both(tokenizer, ids, [ids["X"]] * 9 + [nl, ids["X"]], max_thinking_tokens=10, max_answer_tokens=5)
    assert r.thinking_tokens == 10 and r.hit_max
    assert r.generated_tokens == 10 + len(ids["delim"]) + len(ids["final"]) + 5


def test_min_budget_suppresses_stops_with_wait(tokenizer, ids):
    X, S = ids["X"], ids["STOP"]
    # 3 thinking tokens, then the model tries to stop twice before 6 tokens; after the delimiter
    # (3 forced tokens) it answers "4".
    script = [X, X, X, S, X, S, X, S, 0, 0, ids["FOUR"], ids["EOT"]]
    r = run_both(tokenizer, ids, script, min_thinking_tokens=6, max_thinking_tokens=50)
    assert r.num_forced == 2 and r.thinking_tokens == 7  # 5 sampled + 2 "Wait"
    assert r.thinking.count("Wait") == 2 and not r.hit_max
    assert r.think_end_reason == "delimiter" and r.answer == "4" and r.answer_tokens == 1
    assert r.stop_reason == "end_of_turn"
    assert r.generated_tokens == 7 + len(ids["delim"]) + 1 + 1  # thinking + delimiter + "4" + end-of-turn


def test_one_token_comes_after_each_wait(tokenizer, ids):
    X, S = ids["X"], ids["STOP"]
    # The model tries to stop right after "Wait": as s1's min_tokens=1 round, the stop is masked and
    # the next-best token comes first; only the following stop ends thinking (num_ignore is spent).
    r = run_both(
        tokenizer, ids, [X, S, S, S, 0, 0, ids["FOUR"], ids["EOT"]], num_ignore=1, max_thinking_tokens=50
    )
    assert r.num_forced == 1 and r.thinking_tokens == 3  # " step", "Wait", one sampled token
    assert r.think_end_reason == "delimiter" and r.answer == "4"
    # And the first thinking token, with num_ignore, is not a stop either.
    first = run_both(
        tokenizer, ids, [S, S, X, S, 0, 0, ids["FOUR"], ids["EOT"]], num_ignore=1, max_thinking_tokens=50
    )
    assert first.num_forced == 1 and first.thinking_tokens == 3  # a sampled token, "Wait", " step"


def test_num_ignore_cycles_ignore_strings(tokenizer, ids):
    script = [ids["X"], ids["STOP"]]
    r = run_both(tokenizer, ids, script, num_ignore=3, ignore_strings=["Wait", "Hmm"], max_thinking_tokens=50)
    assert r.num_forced == 3
    assert r.thinking.index("Wait") < r.thinking.index("Hmm") < r.thinking.rindex("Wait")


def test_maximum_wins_over_minimum(tokenizer, ids):
    long_ignore = "Wait, let me check that again"  # several tokens: no room for it under the maximum
    script = [ids["X"], ids["X"], ids["X"], ids["STOP"]]
    r = run_both(
        tokenizer, ids, script, min_thinking_tokens=5, max_thinking_tokens=5, ignore_strings=[long_ignore]
    )
    assert r.thinking_tokens == 3 and r.num_forced == 0 and r.think_end_reason == "delimiter"


def test_end_of_turn_inside_thinking_still_answers(tokenizer, ids):
    r = run_both(tokenizer, ids, [ids["X"], ids["EOT"], ids["FOUR"], ids["EOT"]], max_thinking_tokens=20)
    assert r.think_end_reason == "end_of_turn" and not r.hit_max
    assert r.answer.startswith("Final Answer:")


def test_zero_thinking_budget(tokenizer, ids):
    r = run_both(tokenizer, ids, [ids["FOUR"], ids["EOT"]], max_thinking_tokens=0)
    assert r.thinking == "" and r.thinking_tokens == 0 and r.hit_max


def test_vllm_prompts_are_token_ids_never_retokenized(tokenizer, ids):
    req = BudgetRequest(ids["prompt"], num_ignore=2, max_thinking_tokens=40)
    n = len(tokenizer.encode(req.prompt, add_special_tokens=False))
    llm = FakeLLM([ids["X"], ids["STOP"]], n)
    VLLMEngine(llm, tokenizer, FMT, sampling_params_cls=FakeSamplingParams).generate([req])
    prompts = [p for p, _ in llm.calls]
    for before, after in zip(prompts, prompts[1:], strict=False):
        assert after[: len(before)] == before  # each round extends the previous ids exactly


@pytest.mark.parametrize(
    "budget, needle",
    [
        ({"min_thinking_tokens": 9, "max_thinking_tokens": 4}, "--min-thinking-tokens (9) is larger than --max-thinking-tokens (4)"),
        ({"max_thinking_tokens": -1}, "--max-thinking-tokens"),
        ({"num_ignore": -2}, "--num-ignore"),
        ({"max_answer_tokens": 0}, "--max-answer-tokens"),
        ({"ignore_strings": []}, "--ignore-string"),
        ({"top_p": 0}, "--top-p"),
    ],
)  # fmt: skip
def test_impossible_budgets(budget, needle):
    with pytest.raises(ValueError) as e:
        BudgetRequest("p", **budget)
    assert needle in str(e.value)


def test_prompt_longer_than_context(tiny_model, ids):
    model, tok = tiny_model
    engine = HFEngine(model, tok, FMT, max_context=16)
    with pytest.raises(ValueError, match=r"prompt is \d+ tokens, but the model's context is 16 tokens"):
        engine.generate([BudgetRequest(ids["prompt"])])


def _kinds(r):
    return [(s["kind"], s["tokens"], s["forced"]) for s in r.segments]


def test_segments_record_what_happened_in_order(tokenizer, ids):
    """Each forced "Wait" and the delimiter sit at the positions the rules put them, on all three backends
    (run_both compares the segments too), and the segments add up to the counts."""
    X, S = ids["X"], ids["STOP"]
    script = [X, X, X, S, X, S, X, S, 0, 0, ids["FOUR"], ids["EOT"]]
    r = run_both(tokenizer, ids, script, min_thinking_tokens=6, max_thinking_tokens=50)
    assert _kinds(r) == [("thinking", 3, False), ("ignore_string", 1, True), ("thinking", 1, False),
                         ("ignore_string", 1, True), ("thinking", 1, False),
                         ("delimiter", len(ids["delim"]), False), ("answer", 1, False)]  # fmt: skip
    assert [s["text"] for s in r.segments if s["forced"]] == ["Wait", "Wait"]
    assert r.segments[5]["reason"] == "delimiter" and r.segments[-1]["text"] == "4"

    cut = run_both(tokenizer, ids, [X], max_thinking_tokens=10, max_answer_tokens=5)
    assert _kinds(cut) == [("thinking", 10, False), ("delimiter", 1 + len(ids["delim"]), True),
                           ("final_answer_prefix", len(ids["final"]), True), ("answer", 5, False)]  # fmt: skip
    assert cut.segments[1]["reason"] == "max_thinking_tokens" and cut.segments[1]["text"].startswith("\n")

    eot = run_both(tokenizer, ids, [X, ids["EOT"], ids["FOUR"], ids["EOT"]], max_thinking_tokens=50)
    assert [s["kind"] for s in eot.segments][:3] == ["thinking", "delimiter", "final_answer_prefix"]
    assert eot.segments[1]["reason"] == "end_of_turn" and eot.segments[1]["forced"]

    empty = run_both(tokenizer, ids, [X, S, X, S, 0, 0, ids["FOUR"], ids["EOT"]], num_ignore=1,
                     ignore_strings=[""], max_thinking_tokens=50)  # fmt: skip
    assert ("ignore_string", 0, True) in _kinds(empty)  # a stop dropped for nothing is still recorded

    for res in (r, cut, eot, empty):
        thinking = sum(s["tokens"] for s in res.segments if s["kind"] in ("thinking", "ignore_string"))
        assert thinking == res.thinking_tokens
        assert sum(s["kind"] == "ignore_string" for s in res.segments) == res.num_forced
        assert (
            sum(s["tokens"] for s in res.segments) + (res.stop_reason == "end_of_turn")
            == res.generated_tokens
        )


def test_a_record_written_under_the_old_kind_names_reads_as_the_new(tokenizer):
    """Events, trails, records and segments now say `ignore_string` and `final_answer_prefix`; a record
    an older processor wrote (`forced`, `answer_prefix`) still finishes into the same segments."""
    from thinkscale.inference.forcing.budget import BudgetRules, DecodeState, TokenDelimiters, segment_records
    from thinkscale.inference.forcing.state import state_from_record

    delims = TokenDelimiters.build(tokenizer, FMT)
    rules = BudgetRules(tokenizer, delims)
    wait = tokenizer.encode("Wait", add_special_tokens=False)
    think = tokenizer.encode(" so", add_special_tokens=False)
    delim, prefix = delims.think_end_ids, delims.final_prefix_ids
    thinking, answer = think + wait, prefix
    old = {"phase": "answer", "thinking_ids": thinking, "answer_ids": answer, "answer_sampled": 0,
           "generated": len(thinking) + len(delim) + len(answer), "num_forced": 1, "hit_max": True,
           "think_end_reason": "max_thinking_tokens", "stop_reason": "", "fresh_round": False, "pending": [],
           "trail": [["thinking", len(think), None], ["forced", len(wait), None], ["delimiter", len(delim), delim],
                     ["answer_prefix", len(prefix), None]], "through": 0}  # fmt: skip
    tokens = [*thinking, *delim, *answer]
    req = BudgetRequest("p", max_thinking_tokens=len(thinking))
    s = state_from_record(rules, DecodeState(req=req), {**old, "through": len(tokens)}, tokens, 64, False)
    kinds = [(seg["kind"], seg["forced"]) for seg in segment_records(tokenizer, s)]
    assert kinds == [
        ("thinking", False),
        ("ignore_string", True),
        ("delimiter", True),
        ("final_answer_prefix", True),
    ]
