"""The Table 1 recipes carry s1's published evaluation settings, and their dry run works on a CPU.

s1's settings (simplescaling/s1, eval/commands.sh and its lm-evaluation-harness fork): vLLM with
tensor parallelism 8, dtype float32, the chat template, greedy, max_gen_toks=32768,
max_tokens_thinking=auto (the context less the prompt and ~110 tokens), "Wait" as the ignore string,
thinking between "<|im_start|>think" and "<|im_start|>answer", "Final Answer:" after a cut; tasks
aime24_nofigures, openai_math (MATH500) and gpqa_diamond_openai.
"""

from __future__ import annotations

import pytest

from common.chat_format import FormatArgs
from common.config import parse_config
from eval.benchmarks import HUB, BenchmarkArgs
from eval.run import EvalArgs
from eval.run import main as eval_main
from inference.backend import BackendArgs
from inference.models import ModelArgs

RECIPES = {"recipes/qwen2.5-32b/eval.yaml": "simplescaling/s1-32B",
           "recipes/qwen2.5-32b/eval-s1.1.yaml": "simplescaling/s1.1-32B"}  # fmt: skip


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_settings_are_s1s(recipe):
    model, fmt, bench, ev, backend = parse_config([ModelArgs, FormatArgs, BenchmarkArgs, EvalArgs, BackendArgs],
                                                  ["--config", recipe])  # fmt: skip
    assert model.model == RECIPES[recipe] and model.dtype == "float32"
    assert bench.benchmark.split(",") == ["aime24", "math500", "gpqa_diamond"]
    assert HUB["aime24"][0] == "simplescaling/aime24_nofigures"  # s1's aime24_nofigures
    assert backend.backend == "vllm" and backend.tensor_parallel_size == 8 and backend.max_model_len == 32768
    assert ev.temperature == 0.0 and ev.samples_per_question == 1
    # No answer truncation: the answer may use all the context, as max_gen_toks=32768 allows.
    assert ev.max_answer_tokens >= backend.max_model_len
    # max_tokens_thinking=auto: the context less the prompt and s1's ~110 tokens of room.
    assert 31000 <= ev.wait_max_thinking < backend.max_model_len
    assert ev.methods == ["wait"] and 0 in ev.wait_counts and 2 in ev.wait_counts
    assert fmt.think_start.startswith("<|im_start|>think") and fmt.think_end.startswith("<|im_start|>answer")
    assert fmt.final_answer_prefix == "Final Answer:" and fmt.end_of_turn == "<|im_end|>"


def test_dry_run_counts_what_table1_would_decode(capsys):
    assert eval_main(["--config", "recipes/qwen2.5-32b/eval-s1.1.yaml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for bench, n in (("aime24", 30), ("math500", 500), ("gpqa_diamond", 198)):
        assert f"on {bench}: {n} questions" in out
    assert "wait | 2 | 30 | 32000 | 32768 | 983040" in out  # capped by the context, not by an answer budget
    assert "at most" in out


def test_cpu_recipe_keeps_a_stated_answer_cap():
    ev = parse_config([ModelArgs, FormatArgs, BenchmarkArgs, EvalArgs, BackendArgs],
                      ["--config", "recipes/smollm2-135m/eval.yaml"])[3]  # fmt: skip
    assert ev.max_answer_tokens == 24 and EvalArgs().max_answer_tokens == 32768
