"""Packing: several examples per training block, with per-example position ids and no padding.

    blocks = pack(examples, block_size=4096)        # first-fit decreasing into blocks
    batch = PackedCollator()(blocks[:2])            # input_ids, labels, position_ids (no attention_mask)

Position ids restart at 0 for each example inside a block. transformers reads that as packed
sequences: with no attention mask it builds a block-diagonal causal mask (SDPA, eager) or calls
flash-attention's variable-length kernel, so no token attends across an example boundary and the
loss of a packed block equals the losses of its examples run one by one. The first label of every
example is -100 (it is a prompt token in any case): no example learns to predict its neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from thinkscale.common.errors import ConfigError
from thinkscale.sft.tokenize import IGNORE, Example
from thinkscale.sft.trainer import WEIGHTS, example_weights


@dataclass
class Block:
    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    num_examples: int

    def __len__(self) -> int:
        return len(self.input_ids)


def pack(examples: list[Example], block_size: int) -> list[Block]:
    """First-fit-decreasing bin packing of examples into blocks of at most `block_size` tokens.

    The block order is deterministic (it depends on the lengths and input order only); the trainer's
    seeded sampler shuffles blocks each epoch.
    """
    too_long = [i for i, ex in enumerate(examples) if len(ex) > block_size]
    if too_long:
        raise ConfigError(
            f"{len(too_long)} examples exceed block size {block_size} (first index {too_long[0]})"
        )
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i]), i))
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = len(examples[i])
        j = next((b for b, r in enumerate(room) if r >= n), None)
        if j is None:
            bins.append([i])
            room.append(block_size - n)
        else:
            bins[j].append(i)
            room[j] -= n
    blocks = []
    for members in bins:
        ids, labels, pos = [], [], []
        for i in sorted(members):
            ex = examples[i]
            ids += ex.input_ids
            labels += [IGNORE, *ex.labels[1:]]
            pos += range(len(ex))
        blocks.append(Block(ids, labels, pos, len(members)))
    return blocks


def single(examples: list[Example]) -> list[Block]:
    """One example per block: the unpacked layout (for comparisons and for `packing: false`)."""
    return [Block(ex.input_ids, [IGNORE, *ex.labels[1:]], list(range(len(ex))), 1) for ex in examples]


class PackedCollator:
    """Stack blocks into a batch. One block: no padding at all. Several: right-padded to the longest,
    with an attention mask, because a padded row cannot be told apart from a packed one by positions."""

    def __init__(self, pad_id: int = 0, example_weights: bool = False):
        self.pad_id, self.example_weights = pad_id, example_weights

    def __call__(self, blocks: list) -> dict[str, torch.Tensor]:
        blocks = [b if isinstance(b, Block) else Block(**b) for b in blocks]
        # One row per unpacked example (padded), or every block in one row when any is packed.
        rows = blocks if len(blocks) > 1 and all(b.num_examples == 1 for b in blocks) else [_joined(blocks)]
        batch = self._collate(rows)
        if self.example_weights:  # sft/trainer.py: each example's mean loss counts once
            n = batch["input_ids"].shape[1]
            batch[WEIGHTS] = torch.tensor([
                example_weights(b.labels, [i for i, p in enumerate(b.position_ids) if p == 0]) + [0.0] * (n - len(b))
                for b in rows
            ])  # fmt: skip
        return batch

    def _collate(self, blocks: list[Block]) -> dict[str, torch.Tensor]:
        if len(blocks) == 1:  # no padding at all
            b = blocks[0]
            return {"input_ids": torch.tensor([b.input_ids]), "labels": torch.tensor([b.labels]),
                    "position_ids": torch.tensor([b.position_ids])}  # fmt: skip
        n = max(len(b) for b in blocks)
        pad = [n - len(b) for b in blocks]
        return {
            "input_ids": torch.tensor(
                [b.input_ids + [self.pad_id] * p for b, p in zip(blocks, pad, strict=True)]
            ),
            "labels": torch.tensor([b.labels + [IGNORE] * p for b, p in zip(blocks, pad, strict=True)]),
            "attention_mask": torch.tensor(
                [[1] * len(b) + [0] * p for b, p in zip(blocks, pad, strict=True)]
            ),
        }


def _joined(blocks: list[Block]) -> Block:
    """Blocks concatenated into one row (position ids keep each example's boundaries)."""
    return Block(sum((b.input_ids for b in blocks), []), sum((b.labels for b in blocks), []),
                 sum((b.position_ids for b in blocks), []), sum(b.num_examples for b in blocks))  # fmt: skip
