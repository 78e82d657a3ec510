"""A small GGUF file written here with the `gguf` package: a random Qwen2-architecture model (2 layers,
hidden 64) with the real SmolLM2 tokenizer's vocabulary, merges and chat template, in float32 — the
layout llama.cpp's converter writes, so transformers loads it as it loads a downloaded GGUF."""

from __future__ import annotations

import json
from pathlib import Path


def write_tiny_gguf(path: Path, tokenizer, chat_template: bool = True, seed: int = 0) -> Path:
    import gguf
    import numpy as np
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    layers = 2
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=False)  # fmt: skip
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()

    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name("tiny-qwen2")
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_block_count(layers)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_rope_freq_base(
        config.rope_parameters["rope_theta"] if hasattr(config, "rope_parameters") else config.rope_theta
    )
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    w.add_file_type(0)  # all float32

    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    special = set(tokenizer.all_special_ids)
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(
        [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))]
    )
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    w.add_bos_token_id(tokenizer.convert_tokens_to_ids("<|im_start|>"))
    w.add_eos_token_id(tokenizer.convert_tokens_to_ids("<|im_end|>"))
    w.add_pad_token_id(tokenizer.convert_tokens_to_ids("<|im_end|>"))
    if chat_template:
        w.add_chat_template(tokenizer.chat_template)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, layers)
    for name, tensor in model.state_dict().items():
        base, _, suffix = name.rpartition(".")
        mapped = names.get_name(base)
        if mapped is None:
            raise KeyError(f"no GGUF name for {name}")
        w.add_tensor(f"{mapped}.{suffix}", tensor.detach().to(torch.float32).numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
