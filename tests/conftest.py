"""Shared fixtures: the embedded model's real tokenizer and a tiny random model built on it.

The tiny model (2 layers, hidden 64) uses the real SmolLM2 tokenizer and chat template, so tests
exercise the real delimiters, token ids and template while each runs in well under a second.
"""

from __future__ import annotations

import os

# Tests never reach the network: without this a Hub lookup retries for ~25 s before failing.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    from inference.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """A folder holding a tiny random Llama model plus the real tokenizer, loadable by path."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from inference.models import ModelArgs, load_model

    return load_model(ModelArgs(model=str(tiny_model_dir)))
