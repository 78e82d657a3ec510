"""The real embedded model: conversion fidelity (marked slow: loads 135M params twice).
Load time is measured by bench/bench_load.py, not asserted here."""

import pytest
import torch

pytestmark = pytest.mark.slow


def test_converted_matches_gguf_logits(tokenizer):
    from transformers import AutoModelForCausalLM

    from thinkscale.inference.models.convert import EMBEDDED, converted_path, gguf_path

    src = gguf_path(EMBEDDED["smollm2-135m"])
    gguf = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name).eval()
    conv = AutoModelForCausalLM.from_pretrained(converted_path("smollm2-135m")).eval()
    assert (
        conv.lm_head.weight.data_ptr() == conv.model.embed_tokens.weight.data_ptr()
    )  # tied, as in the original
    ids = tokenizer("<|im_start|>user\nName a prime number.<|im_end|>\n", return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(conv(ids).logits, gguf(ids).logits, rtol=0, atol=1e-4)
