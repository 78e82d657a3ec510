"""`thinkscale plan`: the published fit / no-fit facts of s1's 32B run, and the CLI on a recipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from thinkscale.sft.plan import PlanArgs, Shape, estimate, fits, largest_block

ROOT = Path(__file__).resolve().parents[1]
# Qwen2.5-32B-Instruct's config.json (the fields the plan reads), as published on the Hub.
QWEN_32B = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 5120,
            "intermediate_size": 27648, "num_hidden_layers": 64, "num_attention_heads": 40,
            "num_key_value_heads": 8, "vocab_size": 152064, "tie_word_embeddings": False,
            "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0}  # fmt: skip


@pytest.fixture(scope="module")
def qwen_32b():
    from transformers import Qwen2Config

    return Shape.of(
        Qwen2Config(**{k: v for k, v in QWEN_32B.items() if k not in ("architectures", "model_type")})
    )


def test_parameter_count_is_qwen_32b(qwen_32b):
    assert 32.7e9 < qwen_32b.params < 32.8e9  # Qwen reports 32.5B (31.0B without embeddings)


def test_s1_block_32768_does_not_fit_16_h100s_and_s1_1_block_20000_does(qwen_32b):
    h100s = PlanArgs(gpus=16, gpu_memory=80)
    assert not fits(qwen_32b, 32768, h100s)  # s1 issues #13, #59, #61: out of memory
    assert fits(qwen_32b, 20000, h100s)  # s1.1's block size
    assert 20000 <= largest_block(qwen_32b, h100s) < 32768
    # The terms that scale with tokens do not shard: 32768 tokens still need the logits alone.
    assert estimate(qwen_32b, 32768, PlanArgs(gpus=1024))["logits"] > 40


def test_plan_cli_prints_the_verdict_for_a_recipe(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(QWEN_32B))
    proc = subprocess.run([sys.executable, "-m", "thinkscale.sft.plan", "--config", "recipes/qwen2.5-32b/sft.yaml",
                           "--model", str(tmp_path), "--gpus", "16"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "block 20000 tokens, 16 x 80 GiB" in proc.stdout and "-> fits" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "thinkscale.sft.plan", "--gpus", "0"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert bad.returncode != 0 and "--gpus must be >= 1" in bad.stderr
