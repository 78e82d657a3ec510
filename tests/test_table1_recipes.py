"""The Table 1 recipes carry s1's published evaluation settings, and their dry run works on a CPU.

s1's settings (simplescaling/s1, eval/commands.sh and its lm-evaluation-harness fork): vLLM with
tensor parallelism 8, dtype float32, the chat template, greedy, max_gen_toks=32768,
max_tokens_thinking=auto (the context less the prompt and ~110 tokens), "Wait" as the ignore string,
thinking between "<|im_start|>think" and "<|im_start|>answer", "Final Answer:" after a cut; tasks
aime24_nofigures, openai_math (MATH500) and gpqa_diamond_openai.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import parse_config
from thinkscale.eval.benchmarks import HUB, BenchmarkArgs
from thinkscale.eval.run import EvalArgs
from thinkscale.eval.run import main as eval_main
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.models.load import ModelArgs

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
    # max_tokens_thinking=auto: the context less the longest prompt, the delimiters and 100 tokens.
    assert ev.wait_max_thinking == "auto" and ev.wait_ignore_strings == ["Wait"]
    # the run without budget forcing ("s1 w/o BF") and the Wait sweep s1's commands.sh runs
    assert ev.methods == ["no_forcing", "wait"] and {0, 1, 2} <= set(ev.wait_counts)
    assert bench.gpqa_format == "s1"
    assert fmt.think_start.startswith("<|im_start|>think") and fmt.think_end.startswith("<|im_start|>answer")
    assert fmt.final_answer_prefix == "Final Answer:" and fmt.end_of_turn == "<|im_end|>"


def test_dry_run_counts_what_table1_would_decode(capsys):
    assert eval_main(["--config", "recipes/qwen2.5-32b/eval-s1.1.yaml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for bench, n in (("aime24", 30), ("math500", 500), ("gpqa_diamond", 198)):
        assert f"on {bench}: {n} questions" in out
    assert "wait | 2 | 30 | auto | 32768 | 983040" in out  # capped by the context, not by an answer budget
    assert "no_forcing | none | 30 | 32768 | 32768 | 983040" in out
    assert "at most" in out


def test_one_answer_budget_default_and_every_s1_recipe_states_s1s():
    from thinkscale.eval.policy import PolicySettings
    from thinkscale.inference.engine_args import BudgetArgs
    from thinkscale.inference.forcing.budget import MAX_ANSWER_TOKENS, BudgetRequest

    ev = parse_config([ModelArgs, FormatArgs, BenchmarkArgs, EvalArgs, BackendArgs],
                      ["--config", "recipes/smollm2-135m/eval.yaml"])[3]  # fmt: skip
    assert ev.max_answer_tokens == 24
    defaults = {EvalArgs().max_answer_tokens, BudgetArgs().max_answer_tokens, BudgetRequest("q").max_answer_tokens,
                PolicySettings().max_answer_tokens}  # fmt: skip
    assert defaults == {MAX_ANSWER_TOKENS}
    for recipe in sorted(Path("recipes/qwen2.5-32b").glob("eval*.yaml")):  # s1: no cap short of the context
        ev = parse_config(
            [ModelArgs, FormatArgs, BenchmarkArgs, EvalArgs, BackendArgs], ["--config", str(recipe)]
        )[3]
        assert ev.max_answer_tokens == 32768, recipe


TABLE_RECIPES = {
    "recipes/qwen2.5-32b/eval-table4-without-string.yaml": ("simplescaling/s1-32B", [""], ["wait"]),
    "recipes/qwen2.5-32b/eval-table4-hmm.yaml": ("simplescaling/s1-32B", ["Hmm"], ["wait"]),
    "recipes/qwen2.5-32b/eval-table4-alternatively.yaml": ("simplescaling/s1-32B", ["Alternatively"], ["wait"]),
    "recipes/qwen2.5-32b/eval-table3.yaml": ("simplescaling/s1-32B", ["Wait"], ["budget_forcing", "class_conditional"]),
    "recipes/qwen2.5-32b/eval-table3-rs.yaml": ("simplescaling/s1-32B", ["Wait"], ["rejection_sampling"]),
    "recipes/qwen2.5-32b/eval-table3-tcc.yaml": ("simplescaling/token-conditional-control", ["Wait"],
                                                 ["token_conditional", "token_conditional_bf"]),
    "recipes/qwen2.5-32b/eval-table3-scc.yaml": ("simplescaling/step-conditional-control", ["Wait"], ["step_conditional"]),
}  # fmt: skip


@pytest.mark.parametrize("recipe", TABLE_RECIPES)
def test_table_3_and_4_recipes_name_s1s_models_and_settings(recipe, capsys):
    """Each Table 3 / 4 run as s1's commands.sh made it: the model it used (token- and step-conditional
    control were separate fine-tunes), the ignore string, fp32, greedy (rejection sampling at T 1)."""
    model, ignore, methods = TABLE_RECIPES[recipe]
    m, _, bench, ev, _ = parse_config(
        [ModelArgs, FormatArgs, BenchmarkArgs, EvalArgs, BackendArgs], ["--config", recipe]
    )
    assert (
        m.model == model
        and m.dtype == "float32"
        and ev.methods == methods
        and ev.wait_ignore_strings == ignore
    )
    assert ev.temperature == 0.0 and (ev.sample_temperature == 1.0 or "rejection_sampling" not in methods)
    assert eval_main(["--config", recipe, "--dry-run"]) == 0 and "at most" in capsys.readouterr().out
