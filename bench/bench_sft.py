"""Training-step throughput on CPU: packed blocks (this trainer) vs a padded Trainer baseline.

    .venv/bin/python -m bench.bench_sft [--examples 48] [--block-size 1024] [--batch 4]

Same model (the embedded default, SmolLM2-135M, fp32), same examples, same optimizer and Trainer;
one epoch each. The examples follow an s1K-like length mix scaled to a CPU — log-normal, median ~250
tokens, a long tail to 1000 — with the first 25% of each masked as prompt. The baseline is what a
plain Trainer set-up does: micro-batches of `--batch` examples in random order, right-padded to the
longest (pad tokens cost compute and learn nothing). Ours: examples packed into `--block-size`
blocks with per-example position ids, one block per micro-batch, no padding. Throughput counts real
(non-pad) tokens only. Cases alternate, after a warm-up, as in every benchmark here.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile

import torch

from bench.harness import Case, compare, peak_rss_mib, table
from thinkscale.sft.packing import Block, PackedCollator, pack, single
from thinkscale.sft.tokenize import IGNORE, Example


def length_mix(n: int, seed: int = 0, cap: int = 1000) -> list[int]:
    rng = random.Random(seed)
    return [min(cap, max(32, int(rng.lognormvariate(math.log(250), 0.7)))) for _ in range(n)]


def examples(lengths: list[int], vocab: int, seed: int = 0) -> list[Example]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(3, vocab, (n,), generator=g).tolist()
        cut = n // 4
        out.append(Example(ids, [IGNORE] * cut + ids[cut:]))
    return out


def run_epoch(model, blocks: list[Block], micro_batch: int, accumulation: int) -> None:
    from transformers import Trainer, TrainingArguments

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=micro_batch, gradient_accumulation_steps=accumulation,
            num_train_epochs=1, learning_rate=1e-5, save_strategy="no", report_to=[], logging_strategy="no",
            remove_unused_columns=False, disable_tqdm=True, dataloader_pin_memory=False, seed=0,
        )  # fmt: skip
        Trainer(
            model=model, args=args, train_dataset=[b.__dict__ for b in blocks], data_collator=PackedCollator()
        ).train()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=48)
    p.add_argument("--block-size", type=int, default=1024)
    p.add_argument("--batch", type=int, default=4, help="examples per padded micro-batch (baseline)")
    args = p.parse_args()

    from thinkscale.inference.models.load import ModelArgs, load_model

    model, tok = load_model(ModelArgs(), for_training=True)
    model.config.use_cache = False
    exs = examples(length_mix(args.examples), len(tok))
    real = sum(len(e) for e in exs)
    padded_blocks = single(exs)
    random.Random(0).shuffle(padded_blocks)
    packed_blocks = pack(exs, args.block_size)
    pad_tokens = sum(
        args.batch * max(len(b) for b in padded_blocks[i : i + args.batch])
        for i in range(0, len(padded_blocks), args.batch)
    )
    # Both do the same number of optimizer steps' worth of data: one epoch; accumulation is irrelevant
    # to throughput, so each runs with 1.
    cases = [Case("padded Trainer (baseline)", lambda: run_epoch(model, padded_blocks, args.batch, 1), work=real),
             Case("packed (ours)", lambda: run_epoch(model, packed_blocks, 1, 1), work=real)]  # fmt: skip
    compare(cases, baseline="padded Trainer (baseline)", repeats=3, warmup=1)
    print(f"{len(exs)} examples, {real} real tokens; padded batches hold {pad_tokens} positions "
          f"({real / pad_tokens:.0%} real); {len(packed_blocks)} packed blocks of <= {args.block_size} "
          f"({real / (len(packed_blocks) * args.block_size):.0%} full)\n")  # fmt: skip
    print(table(cases, baseline="padded Trainer (baseline)", unit="real tokens"))
    print(f"\npeak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
