"""Every shipped recipe is read by its stage: its keys exist, its values validate (`--print-config`
runs the stage's parser and its checks, and loads no model)."""

from __future__ import annotations

import importlib

import pytest

from thinkscale.cli import COMMANDS
from thinkscale.common.recipes import resolve, shipped

# A recipe's file name -> the subcommand that reads it (accelerate/ holds launcher configs, not recipes).
STAGE = {"chat": "chat", "serve": "serve", "data": "data", "sft": "train", "asv_sft": "train", "ibpo_sft": "train",
         "eval": "eval", "verifier": "verifier", "strategies": "strategies", "asv_data": "asv-data", "ibpo": "ibpo",
         "ibpo_eval": "ibpo-eval", "model": "convert"}  # fmt: skip
RECIPES = [r for r in shipped() if not r.startswith("accelerate/")]


def _stage(recipe: str) -> str:
    name = recipe.rsplit("/", 1)[1]
    return STAGE.get(name) or STAGE[name.split("-", 1)[0]]  # eval-table3 -> eval, data-s1k -> data


@pytest.mark.parametrize("recipe", RECIPES)
def test_shipped_recipe_is_read_by_its_stage(recipe, capsys):
    if recipe.endswith("/model"):  # a chunk-package manifest: read as `thinkscale convert` reads it
        from thinkscale.inference.models.packaged import load_manifest, manifests

        manifest = load_manifest(resolve(recipe))
        assert len(manifest["sha256"]) == 64 and manifests()[manifest["name"]] == manifest
        return
    module = importlib.import_module(f"thinkscale.{COMMANDS[_stage(recipe)][0]}")
    with pytest.raises(SystemExit) as done:
        module.main(["--config", str(resolve(recipe)), "--print-config"])
    assert done.value.code == 0, capsys.readouterr().err
    assert "model:" in capsys.readouterr().out


def test_the_real_model_recipes_name_the_packaged_model():
    assert {"qwen2.5-0.5b/eval", "qwen2.5-0.5b/chat", "qwen2.5-0.5b/serve", "qwen2.5-0.5b/model"} <= set(
        RECIPES
    )
