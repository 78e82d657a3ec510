"""s1's batches: examples per optimizer step, steps per epoch, and each example's loss counted once."""

from __future__ import annotations

import json

import pytest
import torch

from tests.test_sft_distributed import write_train_file
from thinkscale.common.io import read_jsonl
from thinkscale.sft.args import SFTArgs
from thinkscale.sft.tokenize import IGNORE, tokenize_rows
from thinkscale.sft.train import main


@pytest.fixture(scope="module")
def data_file(tokenizer, tmp_path_factory):
    return write_train_file(tmp_path_factory.mktemp("batches") / "train.jsonl", tokenizer)


def test_s1_schedule_is_63_steps_an_epoch_and_315_in_all():
    # s1: 1000 examples, 16 GPUs x micro-batch 1, 5 epochs; the last step of an epoch is partial.
    s1 = SFTArgs(global_batch_size=16, micro_batch_size=1, num_train_epochs=5, packing=False)
    assert s1.schedule(blocks=1000, world_size=16) == {"steps_per_epoch": 63, "total_steps": 315}
    assert s1.schedule(blocks=1000, world_size=1) == {"steps_per_epoch": 63, "total_steps": 315}
    assert s1.schedule(blocks=1000, world_size=8) == {"steps_per_epoch": 63, "total_steps": 315}


def _run(model_dir, data, root, name, *extra):
    argv = ["--model", str(model_dir), "--dataset", str(data), "--output-root", str(root), "--name", name,
            "--block-size", "600", "--learning-rate", "1e-3", "--micro-batch-size", "1", "--warmup-ratio", "0",
            "--logging-steps", "1", "--save-steps", "100", *extra]  # fmt: skip
    assert main(argv) == 0
    out = root / "sft" / name
    return [r["loss"] for r in read_jsonl(out / "train_log.jsonl")], json.loads(
        (out / "data_info.json").read_text()
    )


def test_step_count_is_the_one_data_info_states(tiny_model_dir, data_file, tmp_path):
    got, info = _run(tiny_model_dir, data_file, tmp_path, "s", "--packing", "false", "--global-batch-size", "4",
                     "--num-train-epochs", "2", "--loss-weighting", "example")  # fmt: skip
    assert (info["examples"], info["examples_per_step"], info["steps_per_epoch"], info["total_steps"]) == (
        8,
        4.0,
        2,
        4,
    )
    assert len(got) == info["total_steps"]


def _example_means(model, tokenizer, data_file) -> torch.Tensor:
    means = []
    with torch.no_grad():
        for ex in tokenize_rows(read_jsonl(data_file), tokenizer):
            ids, labels = torch.tensor([ex.input_ids]), torch.tensor([[IGNORE, *ex.labels[1:]]])
            logits = model(input_ids=ids, use_cache=False).logits[0, :-1]
            means.append(torch.nn.functional.cross_entropy(logits, labels[0, 1:], ignore_index=IGNORE))
    return torch.stack(means)


@pytest.fixture(scope="module")
def peaked_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with sharper logits, so examples' mean losses differ and the weightings part."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(40.0)  # tied: the output layer too
    path = tmp_path_factory.mktemp("peaked")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    return path


def test_example_weighting_is_the_mean_of_per_example_means(peaked_model_dir, tokenizer, data_file, tmp_path):
    # One step over all 8 examples: the logged loss is the first step's loss, before any update.
    from thinkscale.inference.models.load import ModelArgs, load_model

    model, _ = load_model(ModelArgs(model=str(peaked_model_dir)))
    means = _example_means(model, tokenizer, data_file)
    lengths = torch.tensor(
        [sum(t != IGNORE for t in ex.labels[1:]) for ex in tokenize_rows(read_jsonl(data_file), tokenizer)]
    )
    per_token = (means * lengths).sum() / lengths.sum()
    assert abs(means.mean() - per_token) > 0.05  # the two weightings differ on this set: the test can tell

    one = ["--max-steps", "1", "--loss-weighting"]
    unpacked, _ = _run(
        peaked_model_dir,
        data_file,
        tmp_path,
        "u",
        "--packing",
        "false",
        "--global-batch-size",
        "8",
        *one,
        "example",
    )
    packed, info = _run(
        peaked_model_dir, data_file, tmp_path, "p", "--global-batch-size", "2", *one, "example"
    )
    tokens, _ = _run(
        peaked_model_dir,
        data_file,
        tmp_path,
        "t",
        "--packing",
        "false",
        "--global-batch-size",
        "8",
        *one,
        "token",
    )
    assert info["blocks"] == 2  # packed: two blocks hold the eight examples, still weighted per example
    torch.testing.assert_close(torch.tensor(unpacked[0]), means.mean(), rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.tensor(packed[0]), means.mean(), rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.tensor(tokens[0]), per_token, rtol=0, atol=1e-4)


def test_bf16_recipe_trains_fp32_master_weights_and_writes_bf16_final(tiny_model_dir, data_file, tmp_path):
    from safetensors import safe_open

    _run(tiny_model_dir, data_file, tmp_path, "b", "--dtype", "bfloat16", "--global-batch-size", "2",
         "--max-steps", "2", "--save-steps", "2")  # fmt: skip
    out = tmp_path / "sft" / "b"

    def dtypes(path):
        with safe_open(path, "pt") as f:
            return {f.get_slice(k).get_dtype() for k in f.keys()}  # noqa: SIM118 (a safetensors handle)

    assert dtypes(out / "checkpoint-2" / "model.safetensors") == {"F32"}  # the master weights
    assert dtypes(out / "final" / "model.safetensors") == {"BF16"}


def test_s1_recipe_options_truncate_long_examples_and_keep_fp32_final(tiny_model_dir, data_file, tmp_path):
    """s1's trainer cuts an over-long example at its max_seq_length and saves the fp32 master weights:
    --over-length truncate keeps every example (the count of cut ones in data_info) and --save-dtype
    float32 writes final/ in fp32 from a bf16 run."""
    from safetensors import safe_open

    _, info = _run(tiny_model_dir, data_file, tmp_path, "t", "--dtype", "bfloat16", "--global-batch-size", "2",
                   "--max-steps", "1", "--block-size", "100", "--over-length", "truncate", "--packing", "false",
                   "--save-dtype", "float32")  # fmt: skip
    assert info["examples"] == len(read_jsonl(data_file)) and info["dropped_over_length"] == 0
    assert info["truncated_over_length"] == 5  # the rows of 110-182 tokens, cut at 100
    with safe_open(tmp_path / "sft" / "t" / "final" / "model.safetensors", "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F32"}  # noqa: SIM118 (a safetensors handle)
