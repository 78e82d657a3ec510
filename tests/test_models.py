"""Model resolution: embedded alias, local folder, Hub id, and one clear error for a wrong name."""

import json

import pytest

from thinkscale.inference.models.convert import INFO_FILE, converted_path
from thinkscale.inference.models.load import ModelArgs, ModelNotFoundError, load_model, resolve_model


def test_alias_resolves_to_converted_folder(tokenizer):  # the tokenizer fixture converts on first use
    path = resolve_model("smollm2-135m")
    assert path == str(converted_path("smollm2-135m"))
    info = json.loads((converted_path("smollm2-135m") / INFO_FILE).read_text())
    assert info["max_abs_logit_diff_vs_gguf"] <= 1e-4


def test_local_folder(tiny_model_dir):
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)
    model, tok = load_model(ModelArgs(model=str(tiny_model_dir)))
    assert model.config.num_hidden_layers == 2 and not model.training
    assert tok.pad_token is not None


def test_wrong_name_lists_every_attempt(tmp_path):
    with pytest.raises(ModelNotFoundError) as e:
        resolve_model("no-such-org/no-such-model")
    msg = str(e.value)
    assert "embedded alias" in msg and "local folder" in msg and "Hub id no-such-org/no-such-model" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="holds no config.json"):
        resolve_model(str(tmp_path / "empty"))


def test_bad_model_args():
    with pytest.raises(ValueError, match="dtype"):
        ModelArgs(dtype="int3")
