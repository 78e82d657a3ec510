"""The format stage: render chosen rows as s1-format training text with the target model's template.

    info = render_rows(rows, tokenizer, fmt, block_size=32768, over_length="report")

Each row gets `text` (prompt + assistant turn, exactly what the trainer sees), `prompt_text`
(the part the loss ignores) and `num_tokens`. Rows longer than the training block size are never cut
here: `report` keeps them and lists them in the report (the trainer then drops or rejects them by its
own flag), `drop` removes them, `error` stops with their ids.
"""

from __future__ import annotations

from thinkscale.common.chat_format import FormatArgs, render_example
from thinkscale.common.errors import ConfigError

OVER_LENGTH = ("report", "drop", "error")


def render_rows(
    rows: list[dict], tokenizer, fmt: FormatArgs, block_size: int, over_length: str = "report"
) -> tuple[list[dict], dict]:
    """(rows to keep, {'over_block_size': n, 'over_block_size_ids': [...], 'dropped': n})."""
    if over_length not in OVER_LENGTH:
        raise ConfigError(f"--over-length must be one of {', '.join(OVER_LENGTH)}, got {over_length!r}")
    if block_size <= 0:
        raise ConfigError(f"--block-size must be > 0, got {block_size}")
    for row in rows:
        prompt, completion = render_example(tokenizer, fmt, row["question"], row["reasoning"], row["answer"])
        row["prompt_text"], row["text"] = prompt, prompt + completion
    lengths = tokenizer([r["text"] for r in rows], add_special_tokens=False)["input_ids"] if rows else []
    for row, ids in zip(rows, lengths, strict=True):
        row["num_tokens"] = len(ids)
    over = [r["id"] for r in rows if r["num_tokens"] > block_size]
    if over and over_length == "error":
        raise ConfigError(
            f"{len(over)} rows are longer than --block-size {block_size} tokens (first: {', '.join(over[:5])}); "
            "raise --block-size or pass --over-length drop"
        )
    keep = [r for r in rows if r["num_tokens"] <= block_size] if over_length == "drop" else rows
    info = {"over_block_size": len(over), "over_block_size_ids": over[:50], "dropped": len(rows) - len(keep)}
    return keep, info
