"""Make targets pass flags to their own stage only (the issue's case: `make train ARGS=--resume` used to
hand --resume to the curation prerequisite, which refused it)."""

import shlex
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


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_all_names_every_missing_recipe_file_before_any_work(tmp_path):
    folder = tmp_path / "recipes"
    shutil.copytree(ROOT / "recipes" / "smollm2-135m", folder)
    (folder / "verifier.yaml").unlink()
    (folder / "ibpo_eval.yaml").unlink()
    dry = subprocess.run(["make", "-n", "all", f"RECIPES={folder}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert dry.returncode != 0 and "thinkscale" not in dry.stdout  # nothing would have run
    assert f"missing {folder}/verifier.yaml {folder}/ibpo_eval.yaml" in dry.stderr
    # s1's folder has no strategy study and no IBPO: make all runs what it has, and has what it runs
    s1 = subprocess.run(["make", "-n", "all", "RECIPES=recipes/qwen2.5-32b"], cwd=ROOT, capture_output=True,
                        text=True, timeout=60)  # fmt: skip
    assert s1.returncode == 0, s1.stderr
    ran = [
        c.split()[1]
        for c in s1.stdout.replace("\\\n", " ").splitlines()
        if c.startswith(".venv/bin/thinkscale")
    ]
    assert ran == ["convert", "data", "train"] and "thinkscale eval --config" in s1.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_chat_talks_to_the_fine_tuned_model_once_train_made_it(tmp_path, tiny_model_dir):
    """The real `make chat` (a prompt, --json): before training the recipe's own model, and a line saying
    so; after `make train` has written outputs/sft/<name>/final, that model: its answer equals
    `thinkscale chat --model <that folder>`'s."""
    import json
    import os
    import sys

    args = '--prompt "What is 7 + 5?" --json --max-thinking-tokens 6 --max-answer-tokens 3'
    env = {**os.environ, "THINKSCALE_OUTPUTS": str(tmp_path / "outputs"), "HF_HUB_OFFLINE": "1"}

    def make_chat():
        proc = subprocess.run(["make", "--no-print-directory", "chat", f"ARGS={args}"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc

    before = make_chat()
    assert "make chat: the untuned model of recipes/smollm2-135m/chat.yaml" in before.stderr
    final = tmp_path / "outputs" / "sft" / "smollm2-135m-s1" / "final"
    shutil.copytree(tiny_model_dir, final)
    after = make_chat()
    assert f"make chat: the fine-tuned model {final}" in after.stderr
    direct = subprocess.run([sys.executable, "-m", "thinkscale", "chat", "--config", "recipes/smollm2-135m/chat.yaml",
                             "--model", str(final), *shlex.split(args)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert direct.returncode == 0, direct.stderr[-2000:]

    def answer(stdout: str) -> dict:
        out = json.loads(stdout.strip().splitlines()[-1])
        return {k: v for k, v in out.items() if k != "seconds"}

    assert answer(after.stdout) == answer(direct.stdout) != answer(before.stdout)
