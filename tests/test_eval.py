"""Evaluation: benchmarks as they are, each control method's prompt and budget logic, resume."""

from __future__ import annotations

import json

import pytest

from tests.benchfiles import BENCH
from tests.scripted import count_generate_calls
from thinkscale.common.chat_format import FormatArgs
from thinkscale.eval.benchmarks import BenchmarkArgs, Item, _gpqa, benchmark_source, load_benchmark
from thinkscale.eval.methods import METHODS, Context, bounds
from thinkscale.inference.forcing.budget import BudgetResult


class FakeEngine:
    """Thinks `natural` tokens unless capped; answers "Answer: 7"; records every request."""

    def __init__(self, natural=100):
        self.natural, self.requests = natural, []

    def generate(self, reqs, on_result=None):
        out = []
        for i, r in enumerate(reqs):
            self.requests.append(r)
            natural = self.natural(r) if callable(self.natural) else self.natural
            n = min(natural, r.max_thinking_tokens) + 2 * r.num_ignore
            n = min(n, r.max_thinking_tokens)
            res = BudgetResult("step\n" * 3, "Answer: 7", n, 3, n + 3, 10, r.num_ignore, n >= r.max_thinking_tokens,
                               "delimiter" if natural < r.max_thinking_tokens else "max_thinking_tokens", "end_of_turn", 0.0)  # fmt: skip
            out.append(res)
            if on_result:
                on_result(i, res)
        return out


def ctx(tokenizer, engine, **kw):
    return Context(engine=engine, tokenizer=tokenizer, fmt=FormatArgs(), budgets=[16, 32, 64], **kw)


ITEMS = [Item("a", "What is 3 + 4?", "7"), Item("b", "What is 2 + 2?", "4")]


def test_budget_forcing_and_wait_set_the_decoder_budgets(tokenizer):
    eng = FakeEngine()
    s = METHODS["budget_forcing"](ctx(tokenizer, eng), ITEMS, 32)
    assert [r.max_thinking_tokens for r in eng.requests] == [32, 32] and all(
        r.num_ignore == 0 for r in eng.requests
    )
    assert [x["correct"] for x in s] == [True, False] and s[0]["thinking_tokens"] == 32
    eng = FakeEngine()
    METHODS["wait"](ctx(tokenizer, eng, wait_max_thinking=300), ITEMS, 2)
    assert {(r.max_thinking_tokens, r.num_ignore) for r in eng.requests} == {(300, 2)}


def test_conditional_prompts_state_the_budget(tokenizer):
    c = ctx(tokenizer, FakeEngine(), unforced_max_thinking=500, tokens_per_step=16)
    # s1's instructions, word for word (its lm-eval fork: PROMPTTOKEN, PROMPTSTEP, PROMPTSHORT, PROMPTLONG)
    short = "Answer after a short amount of thinking. Do not spend excessive time double-checking your work."
    long = (
        "Answer after a long amount of thinking. If you feel like you are finished early, spend the extra "
        "time trying to double-check your work until you are absolutely sure that you have the correct answer."
    )
    for method, point, text, cap in [("token_conditional", 64, "Think for up to 64 tokens.", 500),
                                     ("step_conditional", 64, "Think for up to 4 steps.", 500),
                                     ("token_conditional_bf", 64, "Think for up to 64 tokens.", 64),
                                     ("step_conditional_bf", 32, "Think for up to 2 steps.", 32),
                                     ("class_conditional", "short", short, 500),
                                     ("class_conditional", "long", long, 500)]:  # fmt: skip
        c.engine = FakeEngine()
        samples = METHODS[method](c, ITEMS[:1], point)
        req = c.engine.requests[0]
        assert f"What is 3 + 4?\n\n{text}<|im_end|>" in req.prompt and req.max_thinking_tokens == cap, method
        assert samples[0]["steps"] == 3 and samples[0]["method"] == method
    c.engine = FakeEngine()
    METHODS["budget_forcing"](c, ITEMS[:1], 64)
    assert "Think" not in c.engine.requests[0].prompt.split("What is 3 + 4?")[1].split("<|im_end|>")[0]


def test_control_bounds():
    assert bounds("budget_forcing", 64, [16, 32, 64]) == (0, 64)
    assert bounds("class_conditional", "short", [16, 32, 64]) == (0, 32)
    assert bounds("class_conditional", "long", [16, 32, 64]) == (32, 64)
    assert bounds("wait", 2, [16]) == (None, None)


def test_rejection_sampling_retries_until_it_fits_and_counts_tries(tokenizer):
    # seeds differ per try: tries 1-2 think 80 tokens, try 3 thinks 20
    eng = FakeEngine(natural=lambda r: 20 if r.seed >= 3000 else 80)
    c = ctx(tokenizer, eng, max_tries=5, sample_temperature=0.7)
    s = METHODS["rejection_sampling"](c, ITEMS, 32)
    assert [x["tries"] for x in s] == [3, 3] and all(x["thinking_tokens"] <= 32 for x in s)
    assert all(r.thinking_temperature == 0.7 for r in eng.requests) and len(eng.requests) == 6
    eng = FakeEngine(natural=80)
    s = METHODS["rejection_sampling"](ctx(tokenizer, eng, max_tries=2), ITEMS, 32)
    assert [x["tries"] for x in s] == [2, 2] and s[0]["thinking_tokens"] == 80  # never fits: last try kept


def test_shared_benchmark_files_load_as_they_are():
    math = load_benchmark(BenchmarkArgs(benchmark=str(BENCH / "math500.jsonl")))
    gsm = load_benchmark(BenchmarkArgs(benchmark=str(BENCH / "gsm8k_test.jsonl"), limit=20, subset_seed=3))
    assert len(math) == 65 and math[0].question.startswith("Convert the point") and math[0].level == 2
    assert len(gsm) == 20 and "####" in gsm[0].gold
    assert gsm == load_benchmark(
        BenchmarkArgs(benchmark=str(BENCH / "gsm8k_test.jsonl"), limit=20, subset_seed=3)
    )


def test_short_names_read_the_benchmark_folder_before_the_hub(tmp_path, monkeypatch):
    rows = [{"question": f"Q{i}?", "answer": f"work\n#### {i}", "idx": i} for i in range(30)]
    (tmp_path / "gsm8k_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = BenchmarkArgs(benchmark="gsm8k", benchmark_dir=str(tmp_path), limit=5)
    items = load_benchmark(args)
    # The Hub's rows in the Hub's order: row ids are positions, so the seeded subset is the same.
    assert [it.id for it in items] == [
        str(i) for i in sorted(__import__("random").Random(0).sample(range(30), 5))
    ]
    assert items[0].gold.endswith(f"#### {items[0].id}") and benchmark_source(args) == str(
        tmp_path / "gsm8k_test.jsonl"
    )
    monkeypatch.setenv("THINKSCALE_BENCHMARKS", str(tmp_path))
    assert (
        load_benchmark(BenchmarkArgs(benchmark="gsm8k", limit=5)) == items
    )  # the folder from the environment
    # An empty --benchmark-dir reads the Hub only: the source is the Hub id, not the file.
    assert benchmark_source(BenchmarkArgs(benchmark="gsm8k", benchmark_dir="")) == "openai/gsm8k/main (test)"


def test_shared_benchmark_folder_gives_the_same_subset_as_the_file():
    for name, file in (("gsm8k", "gsm8k_test.jsonl"), ("math500", "math500.jsonl")):
        by_name = load_benchmark(BenchmarkArgs(benchmark=name, benchmark_dir=str(BENCH), limit=15))
        assert by_name == load_benchmark(BenchmarkArgs(benchmark=str(BENCH / file), limit=15))
    assert by_name[0].id.startswith("test/")  # MATH500's unique_id, as the Hub's rows carry it


def test_benchmark_bad_input(tmp_path):
    f = tmp_path / "b.jsonl"
    f.write_text('{"q": "Q?", "a": "1"}\n')
    with pytest.raises(
        ValueError, match=r"no question column \(looked for problem, question.*set --question-column\)"
    ):
        load_benchmark(BenchmarkArgs(benchmark=str(f)))
    assert (
        load_benchmark(BenchmarkArgs(benchmark=str(f), question_column="q", answer_column="a"))[0].gold == "1"
    )
    with pytest.raises(FileNotFoundError, match="run `make data`"):
        load_benchmark(BenchmarkArgs(data_name="nope"), output_root=str(tmp_path))
    with pytest.raises(ValueError, match="not builtin, aime24"):
        load_benchmark(BenchmarkArgs(benchmark="mmlu"))


def test_gpqa_choices_are_shuffled_with_the_gold_letter_tracked():
    rec = {"Question": "Q", "Correct Answer": "right", "Incorrect Answer 1": "w1", "Incorrect Answer 2": "w2",
           "Incorrect Answer 3": "w3"}  # fmt: skip
    items = _gpqa([rec] * 20, seed=0)
    for it in items:
        assert f"({it.gold}) right" in it.question and it.choices == "ABCD"
    assert len({it.gold for it in items}) > 1


def test_eval_cli_resumes_finished_points(tiny_model_dir, tmp_path, monkeypatch):
    from thinkscale.eval.run import main

    bench = tmp_path / "q.jsonl"
    bench.write_text(
        "".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(5))
    )
    argv = ["--model", str(tiny_model_dir), "--benchmark", str(bench), "--output-root", str(tmp_path), "--name", "r",
            "--budgets", "4", "8", "--max-answer-tokens", "4"]  # fmt: skip
    assert main(argv) == 0
    out = tmp_path / "eval" / "r"
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 10 and {"method", "budget", "question", "gold", "thinking", "answer", "extracted", "correct",
                                 "thinking_tokens", "answer_tokens"} <= json.loads(lines[0]).keys()  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())["methods"]["budget_forcing"]
    assert metrics["control"] == 1.0 and [p["point"] for p in metrics["points"]] == [4, 8]
    assert (out / "scaling.png").exists() and "| budget_forcing |" in (out / "summary.md").read_text()
    (out / "samples.jsonl").write_text("\n".join(lines[:7]) + "\n" + lines[7][:10])  # interrupted in point 8
    asked = count_generate_calls(monkeypatch)
    assert main(argv) == 0
    assert asked == [3] and len((out / "samples.jsonl").read_text().splitlines()) == 10
    # More budgets under the same name reuse what is there; a setting that changes how samples are
    # decoded is refused (its old samples would pass for the new recipe's).
    assert main([*argv, "--budgets", "4", "8", "12"]) == 0 and asked == [3, 5]
    with pytest.raises(ValueError, match="other settings .*max_answer_tokens.*--restart"):
        main([*argv[:-1], "8"])


def test_several_benchmarks_get_a_table_and_a_panel_each(tiny_model_dir, tmp_path):
    from thinkscale.eval.run import main

    files = []
    for name in ("add", "mul"):
        f = tmp_path / f"{name}.jsonl"
        f.write_text("".join(json.dumps({"question": f"What is {i} {'+*'[name == 'mul']} 2?", "answer": "0"}) + "\n"
                             for i in range(3)))  # fmt: skip
        files.append(str(f))
    assert main(["--model", str(tiny_model_dir), "--benchmark", ",".join(files), "--output-root", str(tmp_path),
                 "--name", "two", "--budgets", "4", "--max-answer-tokens", "2"]) == 0  # fmt: skip
    table = (tmp_path / "eval" / "two_add.jsonl_table.md").read_text()
    assert "| budget_forcing | 4 | " in table and table.count("(4 tok)") == 2  # a column per benchmark
    plot = tmp_path / "eval" / "two_add.jsonl_scaling.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tmp_path / "eval" / "two_mul.jsonl" / "metrics.json").read_text())
    assert metrics["source"] == files[1] and "(3 questions)" in metrics["title"]


def test_another_limit_reuses_the_questions_it_shares(tiny_model_dir, tmp_path, monkeypatch):
    from thinkscale.eval.run import main

    bench = tmp_path / "q.jsonl"
    bench.write_text(
        "".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(12))
    )
    argv = ["--model", str(tiny_model_dir), "--benchmark", str(bench), "--output-root", str(tmp_path), "--name", "l",
            "--budgets", "4", "--max-answer-tokens", "2"]  # fmt: skip
    assert main([*argv, "--limit", "4"]) == 0
    small = {it.id for it in load_benchmark(BenchmarkArgs(benchmark=str(bench), limit=4))}
    large = {it.id for it in load_benchmark(BenchmarkArgs(benchmark=str(bench), limit=8))}
    asked = count_generate_calls(monkeypatch)
    assert main([*argv, "--limit", "8"]) == 0
    assert asked == [len(large - small)]  # only the questions the first run did not decode
    metrics = json.loads((tmp_path / "eval" / "l" / "metrics.json").read_text())["methods"]["budget_forcing"]
    assert metrics["points"][0]["n"] == 8  # the metrics are the 8 questions', not the file's 12 rows
