"""Make targets pass flags to their own stage only (the issue's case: `make train ARGS=--resume` used to
hand --resume to the curation prerequisite, which refused it)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    "target, var, command",
    [("train", "TRAIN_ARGS", "train"), ("study", "STUDY_ARGS", "eval"),
     ("strategies", "STRATEGIES_ARGS", "strategies"), ("data", "DATA_ARGS", "data")],
)  # fmt: skip
def test_stage_flags_reach_only_their_stage(target, var, command):
    dry = subprocess.run(["make", "-n", target, f"{var}=--marker-flag"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    # join continued lines, then find every command that carries the flag
    commands = dry.stdout.replace("\\\n", " ").splitlines()
    carrying = [c for c in commands if "--marker-flag" in c]
    assert len(carrying) == 1 and f"bin/thinkscale {command} " in carrying[0], carrying


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_table1_recipes_evaluate_hub_models_without_training():
    dry = subprocess.run(["make", "-n", "eval", "RECIPES=recipes/qwen2.5-32b"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert (
        "eval.yaml" in dry.stdout
        and "eval-s1.1.yaml" in dry.stdout
        and "bin/thinkscale eval --config" in dry.stdout
    )
    assert "thinkscale train" not in dry.stdout and "thinkscale strategies" not in dry.stdout
