"""Check `thinkscale plan` against measured memory: FSDP training of the default model on 2 CPU processes.

    python bench/bench_plan.py [--blocks 512 2048] [--steps 2]

Runs `torchrun --nproc-per-node 2 -m thinkscale train` (FSDP2, activation checkpointing, ram-efficient
loading: recipes/accelerate/fsdp_trainer.json) on the default recipe and its `make data` set at each
block size, reads each
rank's peak resident memory above its pre-load baseline from memory.json, and prints it beside the
plan's per-device total for the same settings (`--target cpu`: fp32), with the ratio measured /
planned, and the change between the two block sizes (the terms that grow with tokens) beside the plan's. Rank 0 also held the whole model while broadcasting it (a loading peak the
plan leaves out): rank 1 is the one the plan describes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(block: int, steps: int, root: Path) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29561",
           "-m", "thinkscale.sft.train", "--config", "recipes/smollm2-135m/sft.yaml", "--output-root", str(root),
           "--name", f"plan{block}", "--block-size", str(block), "--max-steps", str(steps), "--save-steps", "1000",
           "--global-batch-size", "2", "--dataset", "outputs/data/smollm2-135m-builtin/train.jsonl",
           "--fsdp", "full_shard auto_wrap",
           "--fsdp-config", "recipes/accelerate/fsdp_trainer.json"]  # fmt: skip
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return json.loads((root / "sft" / f"plan{block}" / "memory.json").read_text())


def main() -> None:
    from transformers import AutoConfig

    from thinkscale.inference.models.load import resolve_model
    from thinkscale.sft.plan import PlanArgs, Shape, estimate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, nargs="+", default=[512, 2048])
    ap.add_argument("--steps", type=int, default=2)
    a = ap.parse_args()
    shape = Shape.of(AutoConfig.from_pretrained(resolve_model("smollm2-135m")))
    seen = []
    with tempfile.TemporaryDirectory() as tmp:
        for block in a.blocks:
            ranks = measure(block, a.steps, Path(tmp))
            planned = estimate(shape, block, PlanArgs(gpus=2, target="cpu"))["total"] * 1024
            grew = [r["peak_rss_mib"] - r["peak_rss_before_load_mib"] for r in ranks]
            seen.append((planned, grew[1]))
            print(f"block {block}: planned {planned:.0f} MiB/device; measured rank 0 {grew[0]:.0f}, rank 1 {grew[1]:.0f} "
                  f"MiB above the pre-load baseline; ratio rank 1 / plan {grew[1] / planned:.3f}")  # fmt: skip
    if len(seen) == 2:
        (p0, m0), (p1, m1) = seen
        print(f"growth from block {a.blocks[0]} to {a.blocks[1]}: planned {p1 - p0:.0f} MiB, measured {m1 - m0:.0f} MiB "
              f"(ratio {(m1 - m0) / (p1 - p0):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
