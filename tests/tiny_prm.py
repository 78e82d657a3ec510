"""A tiny random process reward model in Qwen2.5-Math-PRM's checkpoint format, for tests.

`build(folder, tokenizer)` writes what a Hub PRM holds: `config.json` naming the
`Qwen2ForProcessRewardModel` architecture (vLLM's own class loads it), weights named `model.*` and
`score.0/score.2.*` (the two-layer head), a tokenizer with the `<extra_0>` step separator, and the
model's transformers code as remote code (`auto_map`, this module's `TinyPRM`): `AutoModel` with
`trust_remote_code` loads it as it loads Qwen's. Scores from a random head mean nothing; tests
compare two ways of computing them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn
from transformers import Qwen2Config, Qwen2Model, Qwen2PreTrainedModel

SEP = "<extra_0>"


class TinyPRM(Qwen2PreTrainedModel):
    """Qwen2Model + score head (hidden -> hidden, ReLU, hidden -> 2): logits at every token, first in the output."""

    def __init__(self, config):
        super().__init__(config)
        self.model = Qwen2Model(config)
        h = config.hidden_size
        self.score = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return (self.score(hidden),)


def build(folder: Path, tokenizer, seed: int = 0) -> Path:
    """Write the tiny PRM to `folder` (its tokenizer: `tokenizer` plus the separator)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tok = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tok.add_special_tokens({"additional_special_tokens": [SEP]})
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                         tie_word_embeddings=False, num_labels=2)  # fmt: skip
    model = TinyPRM(config)
    with torch.no_grad():  # a head whose two logits differ by O(1): scores spread over (0, 1)
        model.score[0].weight.normal_(0, 0.1)
        model.score[2].weight.normal_(0, 0.3)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    saved = config.to_dict()
    saved.update(architectures=["Qwen2ForProcessRewardModel"], torch_dtype="float32",
                 auto_map={"AutoModel": "modeling_tiny_prm.TinyPRM"})  # fmt: skip
    (folder / "config.json").write_text(json.dumps(saved, indent=1))
    shutil.copy(__file__, folder / "modeling_tiny_prm.py")
    tok.save_pretrained(folder)
    return folder
