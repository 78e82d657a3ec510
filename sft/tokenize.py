"""Training examples as token ids with labels only on the assistant turn.

    examples = tokenize_rows(rows, tokenizer)     # rows carry `text` and `prompt_text` (make data)

The full text is tokenized once and the prompt is found by character offsets, so the boundary is
right for any chat template and any multi-token delimiter: a token whose span starts inside the
prompt (system and user turns, the assistant header) gets label -100; every later token — the think
block, the delimiter, the answer and the end-of-turn — is learned. Re-tokenizing prompt and
completion separately would be simpler and wrong wherever a token straddles the join.
"""

from __future__ import annotations

from dataclasses import dataclass

from thinkscale.common.errors import ConfigError

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def tokenize_example(tokenizer, text: str, prompt_text: str) -> Example:
    """One example; the prompt must be a prefix of the text (what `render_example` guarantees)."""
    if not text.startswith(prompt_text):
        raise ConfigError("prompt_text is not a prefix of text; re-run make data with this toolkit")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    cut = len(prompt_text)
    labels = [
        IGNORE if start < cut else tid
        for tid, (start, _) in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
    ]
    if all(label == IGNORE for label in labels):
        raise ConfigError("the example has no assistant tokens to learn from")
    return Example(list(enc["input_ids"]), labels)


def tokenize_rows(rows: list[dict], tokenizer, source: str = "dataset") -> list[Example]:
    """Tokenize rows with `text` and `prompt_text`; a missing field names the row."""
    out = []
    for i, row in enumerate(rows, 1):
        for key in ("text", "prompt_text"):
            if not isinstance(row.get(key), str):
                raise ConfigError(f"{source}: row {i} has no {key!r} field (make data writes it)")
        out.append(tokenize_example(tokenizer, row["text"], row["prompt_text"]))
    return out
