"""s1's two selection steps around the domain draw (s1's data/filter.ipynb): benchmark-derived rows
kept whole first, and benchmark-weighted domains after the first `benchmark_after` rows."""

from __future__ import annotations

from collections import Counter

import pytest

from thinkscale.data.curate import CurateArgs
from thinkscale.data.select import S1Steps, benchmark_weights, s1_select

GPQA, AIME, MATH, OTHER = "Idavidrein/gpqa", "qq8933/AIME_1983_2024", "qfq/openaimath/Algebra", "other"


def row(i, domain, source, tokens=100, right=True):
    return {
        "id": f"r{i}",
        "domain": domain,
        "trace_tokens": tokens,
        "answer": "1" if right else "2",
        "gold": "1",
        "source": f"pool:{source}",
        "meta": {"source_type": source},
    }


def is_right(r):
    return r["answer"] == r["gold"]


def s1_pool():
    rows = [row(i, "algebra", AIME) for i in range(6)] + [row(6, "algebra", AIME, right=False)]
    rows += [row(10 + i, "physics", GPQA) for i in range(4)] + [
        row(20 + i, "chemistry", GPQA) for i in range(4)
    ]
    rows += [row(30, "algebra", MATH, tokens=6000), row(31, "algebra", MATH, tokens=5000),
             row(32, "algebra", MATH, tokens=7000, right=False)]  # fmt: skip
    rows += [row(100 + i, f"d{i % 20}", OTHER, tokens=50 + i) for i in range(400)]
    return rows


S1 = S1Steps(keep_whole=[GPQA, AIME], keep_long=["qfq/openaimath"], keep_long_min_tokens=5600,
             benchmark_after=20, benchmark_sources=[AIME, GPQA], benchmark_shares=[1.0, 0.5])  # fmt: skip


def test_benchmark_rows_whose_trace_is_right_are_kept_whole_first():
    chosen = s1_select(s1_pool(), 40, seed=0, steps=S1, is_right=is_right)
    first = {r["id"] for r in chosen[:15]}
    want = (
        {f"r{i}" for i in range(6)}
        | {f"r{10 + i}" for i in range(4)}
        | {f"r{20 + i}" for i in range(4)}
        | {"r30"}
    )
    assert first == want  # AIME and GPQA whole (the wrong AIME trace left out), MATH only over 5600 tokens
    assert len({r["id"] for r in chosen}) == len(chosen) == 40  # pools still hold them: never twice


def test_benchmark_weights_are_s1s_aime_counts_plus_scaled_gpqa():
    # s1: gpqa counts x int(0.5 * |AIME| / |GPQA|) per domain; AIME as counted (wrong traces included).
    weights = benchmark_weights(s1_pool(), S1)
    assert weights == {"algebra": 7.0, "physics": 1.0, "chemistry": 1.0}  # int(4 * 0.5 * 7 / 8) = 1


def test_late_draws_follow_the_benchmark_domains():
    rows = [row(i, "algebra", AIME) for i in range(3)] + [row(3, "physics", GPQA)]
    rows += [row(100 + i, d, OTHER, tokens=100 + i) for i, d in enumerate(["algebra"] * 300 + ["physics"] * 300
                                                                          + ["poetry"] * 300)]  # fmt: skip
    late = S1Steps(benchmark_after=10, benchmark_sources=[AIME, GPQA], benchmark_shares=[1.0, 0.5])
    domains = Counter(r["domain"] for r in s1_select(rows, 300, seed=0, steps=late)[10:])
    assert domains["poetry"] == 0  # no benchmark row is about poetry: never drawn after the first 10
    # algebra weight 3, physics int(1 * 0.5 * 3 / 1) = 1: about 3:1 until algebra's pool runs out
    assert domains["algebra"] > 2 * domains["physics"]
    uniform = Counter(r["domain"] for r in s1_select(rows, 300, seed=0)[10:])
    assert uniform["poetry"] > 60  # without the step every domain is drawn


def test_without_the_steps_the_draw_is_unchanged():
    rows = s1_pool()
    assert s1_select(rows, 50, seed=3) == s1_select(rows, 50, seed=3, steps=S1Steps(), is_right=is_right)


def test_the_steps_are_checked_before_any_work():
    with pytest.raises(
        ValueError, match="--benchmark-shares must give one positive share per --benchmark-sources"
    ):
        CurateArgs(benchmark_sources=[AIME, GPQA], benchmark_shares=[1.0], benchmark_after=700)
    with pytest.raises(ValueError, match="--benchmark-after needs --benchmark-sources"):
        CurateArgs(benchmark_after=700)


def test_the_s1_recipe_selects_as_s1_did():
    from thinkscale.common.config import load_recipe

    recipe = load_recipe("recipes/qwen2.5-32b/data-s1k.yaml")
    steps = CurateArgs(**{k: recipe[k] for k in ("keep_whole_sources", "keep_long_sources", "keep_long_min_tokens",
                                                 "benchmark_after", "benchmark_sources", "benchmark_shares")}).steps()  # fmt: skip
    # s1's data/filter.ipynb: GPQA and AIME_1983_2024 whole where Gemini is right, openaimath over 5600
    # tokens, 2^-rank inside a domain, benchmark-weighted (AIME + 0.5-scaled GPQA) after 700 of 1000.
    assert steps == S1Steps([GPQA, AIME], ["qfq/openaimath"], 5600, 700, [AIME, GPQA], [1.0, 0.5])
    assert (recipe["num_samples"], recipe["rank_base"]) == (1000, 2.0)
    assert recipe["sources"] == ["simplescaling/data_ablation_full59K"]


def test_the_s1_recipe_runs_the_difficulty_stage_as_s1_did():
    from thinkscale.common.config import load_recipe

    recipe = load_recipe("recipes/qwen2.5-32b/data-s1k.yaml")
    # s1's data/bulk_inference.py: Qwen2.5-7B- and 32B-Instruct, own chat template, 32768 tokens, T 0.05
    assert recipe["difficulty_models"] == ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-32B-Instruct"]
    assert (recipe["difficulty_mode"], recipe["difficulty_max_thinking_tokens"], recipe["difficulty_temperature"]) == (
        "native", 32768, 0.05)  # fmt: skip
