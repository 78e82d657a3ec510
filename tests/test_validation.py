"""Impossible settings are refused when the flags are parsed — before any model loads or any work
starts — with a message naming the flag. One table across the stages' settings."""

from __future__ import annotations

import importlib

import pytest

CASES = [  # (module, settings class, field, impossible value, text the error must hold)
    (
        "thinkscale.data.sources",
        "SourceArgs",
        "builtin_train_per_level",
        0,
        "--builtin-train-per-level must be >= 1",
    ),
    ("thinkscale.data.sources", "SourceArgs", "slip_rate", 1.5, "--slip-rate must be in [0.0, 1.0]"),
    ("thinkscale.data.quality", "QualityArgs", "near_dup_threshold", -0.1, "--near-dup-threshold must be in"),
    ("thinkscale.data.curate", "CurateArgs", "num_samples", 0, "--num-samples"),
    ("thinkscale.data.asv", "ASVDataArgs", "block_size", 0, "--block-size must be >= 1"),
    ("thinkscale.sft.args", "SFTArgs", "max_steps", 0, "--max-steps must be -1"),
    ("thinkscale.sft.args", "SFTArgs", "num_train_epochs", 0.0, "--num-train-epochs must be > 0"),
    ("thinkscale.sft.args", "SFTArgs", "adam_beta2", 1.0, "--adam-beta2 must be in [0.0, 1.0)"),
    ("thinkscale.sft.args", "SFTArgs", "save_total_limit", 0, "--save-total-limit must be >= 1"),
    (
        "thinkscale.sft.args",
        "SFTArgs",
        "loss_weighting",
        "sequence",
        "--loss-weighting must be token or example",
    ),
    ("thinkscale.sft.plan", "PlanArgs", "gpus", 0, "--gpus must be >= 1"),
    ("thinkscale.eval.run", "EvalArgs", "max_tries", 0, "--max-tries must be >= 1"),
    ("thinkscale.eval.run", "EvalArgs", "sample_temperature", 0.0, "--sample-temperature must be > 0"),
    ("thinkscale.eval.run", "EvalArgs", "budgets", [0], "--budgets must be positive"),
    (
        "thinkscale.eval.run",
        "EvalArgs",
        "samples_per_question",
        2,
        "--samples-per-question above 1 needs --temperature > 0",
    ),
    ("thinkscale.eval.run", "EvalArgs", "temperature", -0.5, "--temperature must be >= 0"),
    ("thinkscale.eval.strategies.args", "StrategyArgs", "beam_width", 0, "--beam-width must be >= 1"),
    ("thinkscale.eval.strategies.args", "StrategyArgs", "asv_threshold", 2.0, "--asv-threshold must be in"),
    ("thinkscale.eval.verifier.train", "VerifierArgs", "batch_size", 0, "--batch-size must be >= 1"),
    ("thinkscale.eval.verifier.train", "VerifierArgs", "holdout", 1.0, "--holdout must be in (0, 1)"),
    ("thinkscale.inference.engine_args", "BudgetArgs", "max_thinking_tokens", -1, "max"),
    (
        "thinkscale.inference.generate",
        "GenerateArgs",
        "input",
        "no/such/file.jsonl",
        "--input no/such/file.jsonl: no such file",
    ),
]


@pytest.mark.parametrize(
    ("module", "cls", "name", "value", "says"), CASES, ids=[f"{c[1]}.{c[2]}" for c in CASES]
)
def test_impossible_setting_is_refused_naming_the_flag(module, cls, name, value, says):
    settings = getattr(importlib.import_module(module), cls)
    extra = {"output": "o.jsonl"} if cls == "GenerateArgs" else {}
    with pytest.raises((ValueError, FileNotFoundError)) as err:
        settings(**extra, **{name: value})
    assert says in str(err.value), str(err.value)


def test_ibpo_names_a_missing_sft_recipe():
    from thinkscale.ibpo.args import IBPOArgs

    with pytest.raises(FileNotFoundError, match="--sft-config nowhere.yaml: no such file"):
        IBPOArgs(start_model="m", sft_config="nowhere.yaml")


def test_the_cli_refuses_before_loading_anything(tmp_path, capsys):
    from thinkscale.common.config import run_cli
    from thinkscale.sft.train import main

    # No model or dataset exists at these paths: the refusal must come from the flag check first.
    with pytest.raises(SystemExit) as done:
        run_cli(main, ["--model", str(tmp_path / "none"), "--dataset", str(tmp_path / "none.jsonl"),
                       "--adam-beta1", "1.5"])  # fmt: skip
    assert done.value.code == 2 and "--adam-beta1 must be in [0.0, 1.0)" in capsys.readouterr().err
