"""Evaluation as s1's code runs it (simplescaling/s1: its lm-eval fork's vllm_causallms.py and
tasks/gpqa/openai/utils.py, eval/commands.sh): GPQA's prompt, choice order and "A" fallback, the
`auto` thinking cap, the run without budget forcing, the published row each run is set beside, and
the error bars of pass@1 over k samples."""

from __future__ import annotations

import random

import pytest

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.eval.benchmarks import BenchmarkArgs, Item, gpqa_as_s1
from thinkscale.eval.intervals import clustered_se, mean_interval, wilson
from thinkscale.eval.methods import METHODS, Context
from thinkscale.eval.run import EvalArgs, benchmark_table, wait_cap
from thinkscale.inference.forcing.budget import BudgetResult
from thinkscale.inference.forcing.request import UNBOUNDED


def gpqa_docs(n: int) -> list[dict]:
    return [{"Question": f"Question {i}?", "Correct Answer": f"right {i}", "Incorrect Answer 1": f"wrong {i}a",
             "Incorrect Answer 2": f"wrong {i}b", "Incorrect Answer 3": f"wrong {i}c"} for i in range(n)]  # fmt: skip


def test_gpqa_order_prompt_and_gold_are_s1s():
    """s1's process_docs after lm-eval's random.seed(0): each document's [incorrect 1-3, correct]
    shuffled by the global random, in dataset order; the prompt has no instruction."""
    docs = gpqa_docs(12)
    random.seed(0)
    expected = []
    for d in docs:  # s1's _process_doc, step by step
        choices = [
            d["Incorrect Answer 1"],
            d["Incorrect Answer 2"],
            d["Incorrect Answer 3"],
            d["Correct Answer"],
        ]
        random.shuffle(choices)
        expected.append((choices, chr(65 + choices.index(d["Correct Answer"]))))
    items = gpqa_as_s1(docs)
    for item, doc, (choices, gold) in zip(items, docs, expected, strict=True):
        assert (
            item.question
            == f"{doc['Question']}\n\nA) {choices[0]}\nB) {choices[1]}\nC) {choices[2]}\nD) {choices[3]}"
        )
        assert item.gold == gold and item.fallback == "A"
    assert len({it.gold for it in items}) > 1  # the order does move the right answer about


class FakeEngine:
    def __init__(self, answer: str):
        self.answer, self.requests = answer, []

    def generate(self, reqs, on_result=None):
        self.requests += reqs
        out = [
            BudgetResult("t", self.answer, 5, 1, 7, 3, 0, False, "delimiter", "end_of_turn", 0.0)
            for _ in reqs
        ]
        for i, r in enumerate(out):
            if on_result:
                on_result(i, r)
        return out


@pytest.mark.parametrize("gold, right", [("A", True), ("C", False)])
def test_an_unreadable_gpqa_answer_scores_as_a_and_is_counted(tokenizer, gold, right):
    engine = FakeEngine("I cannot decide between them.")
    ctx = Context(engine=engine, tokenizer=tokenizer, fmt=FormatArgs(), budgets=[16])
    s1_item = Item("g", "Q?\n\nA) x\nB) y\nC) z\nD) w", gold, "ABCD", fallback="A")
    sample = METHODS["wait"](ctx, [s1_item], 0)[0]
    assert sample["extracted"] == "A" and sample["fallback"] is True and sample["correct"] is right
    ours = METHODS["wait"](ctx, [Item("g", "Q?", gold, "ABCD")], 0)[
        0
    ]  # the toolkit's own recipes: no fallback
    assert ours["extracted"] is None and ours["fallback"] is False and ours["correct"] is False


def test_auto_thinking_cap_is_s1s_arithmetic(tokenizer):
    """s1: max_tokens - max(prompt lengths) - len(think_start) - len(think_end + 'Final Answer:') - 100."""
    fmt = FormatArgs()
    questions = ["Short?", "A much longer question " * 20 + "?"]
    prompts = [render_prompt(tokenizer, fmt, q) for q in questions]

    def n(text):
        return len(tokenizer.encode(text, add_special_tokens=False))

    longest = max(n(p.removesuffix(fmt.think_start)) for p in prompts)
    want = 32768 - longest - n("<|im_start|>think\n") - n("<|im_start|>answer\nFinal Answer:") - 100
    assert wait_cap(EvalArgs(wait_max_thinking="auto"), questions, tokenizer, fmt, 32768) == want
    assert wait_cap(EvalArgs(wait_max_thinking="4000"), questions, tokenizer, fmt, None) == 4000
    with pytest.raises(ValueError, match="--max-model-len"):
        wait_cap(EvalArgs(wait_max_thinking="auto"), questions, tokenizer, fmt, None)
    with pytest.raises(ValueError, match="--wait-max-thinking"):
        EvalArgs(wait_max_thinking="lots")


def test_no_forcing_is_one_stream_without_cap_wait_or_forced_answer(tokenizer):
    engine = FakeEngine("Answer: 7")
    ctx = Context(engine=engine, tokenizer=tokenizer, fmt=FormatArgs(), budgets=[16], context=UNBOUNDED)
    METHODS["no_forcing"](ctx, [Item("q", "What is 3 + 4?", "7")], "none")
    (req,) = engine.requests
    assert req.max_thinking_tokens == UNBOUNDED and req.num_ignore == 0 and req.min_thinking_tokens == 0


def test_wait_passes_the_ignore_strings_and_the_empty_one(tokenizer):
    engine = FakeEngine("Answer: 7")
    ctx = Context(
        engine=engine,
        tokenizer=tokenizer,
        fmt=FormatArgs(),
        budgets=[16],
        wait_max_thinking=300,
        ignore_strings=("",),
    )
    METHODS["wait"](ctx, [Item("q", "What is 3 + 4?", "7")], 2)
    assert engine.requests[0].ignore_strings == [""] and engine.requests[0].num_ignore == 2


def test_the_table_names_the_published_row_beside_each_run():
    point = {"point": 2, "accuracy": 0.5, "ci95": [0.3, 0.7], "mean_thinking_tokens": 100}
    runs = [("aime24", None, {"wait": {"points": [point]}}), ("math500", None, {"wait": {"points": [point]}})]
    table = benchmark_table(runs, "simplescaling/s1-32B", ["Wait"])
    assert 'Table 4 / 5: 2x "Wait"' in table and "s1: 53.3" in table and "s1: 93.0" in table
    assert "Table 4: 2x without string" in benchmark_table(runs, "simplescaling/s1-32B", [""])
    assert "| — |" in benchmark_table(runs, "my/model", ["Wait"])  # no published row: said so


def test_pass_at_1_over_k_samples_gets_a_clustered_standard_error():
    by_q = {"a": 1.0, "b": 0.5, "c": 0.0, "d": 0.75}  # each question's mean over its k samples
    mean = sum(by_q.values()) / 4
    sd = (sum((v - mean) ** 2 for v in by_q.values()) / 3) ** 0.5
    assert clustered_se(by_q) == pytest.approx(sd / 2)
    assert mean_interval(by_q, samples_per_question=4) == pytest.approx(
        wilson(mean * 4, 4)
    )  # n < 300: Wilson
    many = {i: (i % 4) / 4 for i in range(400)}
    lo, hi = mean_interval(many, samples_per_question=4)
    centre = sum(many.values()) / 400
    assert hi - centre == pytest.approx(1.959963984540054 * clustered_se(many))


def test_gpqa_format_is_checked():
    with pytest.raises(ValueError, match="--gpqa-format"):
        BenchmarkArgs(gpqa_format="lm-eval")
