"""The training set: find the curated rows, tokenize with loss masks, handle over-long examples, pack.

blocks, info = build_blocks(args, tokenizer)
"""

from __future__ import annotations

import logging
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import read_jsonl
from thinkscale.common.paths import stage_dir
from thinkscale.sft.args import SFTArgs
from thinkscale.sft.packing import Block, pack, single
from thinkscale.sft.tokenize import IGNORE, Example, tokenize_rows

log = logging.getLogger(__name__)


def find_train_file(dataset: str, output_root: str | None = None) -> Path:
    """train.jsonl for a make-data run name, a folder holding one, or the file itself."""
    p = Path(dataset)
    candidates = [p] if p.suffix == ".jsonl" else [p / "train.jsonl"]
    if "/" not in dataset and p.suffix != ".jsonl":
        candidates.append(stage_dir("data", dataset, output_root) / "train.jsonl")
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"--dataset {dataset}: no training file (tried {', '.join(map(str, candidates))}); run `make data` first"
    )


def build_blocks(args: SFTArgs, tokenizer) -> tuple[list[Block], dict]:
    """Training blocks and counts: examples, over-length drops, tokens, learned tokens, padding saved."""
    path = find_train_file(args.dataset, args.output_root)
    rows = read_jsonl(path)
    if not rows:
        raise ConfigError(f"--dataset {path}: the dataset is empty")
    examples = tokenize_rows(rows, tokenizer, source=str(path))
    over = [i for i, ex in enumerate(examples) if len(ex) > args.block_size]
    if over and args.over_length == "error":
        raise ConfigError(
            f"{len(over)} of {len(examples)} examples are longer than --block-size {args.block_size} "
            f"(rows {', '.join(str(i + 1) for i in over[:5])}); raise --block-size or pass --over-length drop"
        )
    if over and args.over_length == "truncate":  # s1: its trainer cuts each example at max_seq_length
        log.warning(
            "truncating %d of %d examples to --block-size %d", len(over), len(examples), args.block_size
        )
        cut = set(over)
        examples = [
            Example(ex.input_ids[: args.block_size], ex.labels[: args.block_size]) if i in cut else ex
            for i, ex in enumerate(examples)
        ]
    elif over:
        log.warning(
            "dropping %d of %d examples longer than --block-size %d",
            len(over),
            len(examples),
            args.block_size,
        )
        examples = [ex for i, ex in enumerate(examples) if i not in set(over)]
    truncated = len(over) if args.over_length == "truncate" else 0
    if truncated:  # a prompt alone longer than the block leaves nothing to learn: dropped, counted
        kept = [ex for ex in examples if any(t != IGNORE for t in ex.labels)]
        truncated -= len(examples) - len(kept)
        examples = kept
    if not examples:
        raise ConfigError(f"--dataset {path}: no example fits --block-size {args.block_size}")
    blocks = pack(examples, args.block_size) if args.packing else single(examples)
    tokens = sum(len(ex) for ex in examples)
    info = {"train_file": str(path), "examples": len(examples),
            "dropped_over_length": len(over) - truncated, "truncated_over_length": truncated,
            "blocks": len(blocks), "tokens": tokens,
            "learned_tokens": sum(sum(1 for t in ex.labels if t != -100) for ex in examples),
            "block_fill": round(tokens / (len(blocks) * args.block_size), 3)}  # fmt: skip
    return blocks, info
