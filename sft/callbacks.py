"""Trainer callbacks: train_log.jsonl with tokens/s, a completion marker on each checkpoint, memory.json, loss.png.

A checkpoint folder counts only once `COMPLETE` is written inside it, after the Trainer has saved the
model, optimizer, scheduler, RNG and trainer state; `last_complete_checkpoint` ignores anything a
crash left half-written, so `--resume` never loads a torn checkpoint.
"""

from __future__ import annotations

import json
import re
import resource
import time
from pathlib import Path

from transformers import TrainerCallback

from thinkscale.common.faults import fault_point
from thinkscale.common.io import JsonlAppender, atomic_write_text, read_jsonl
from thinkscale.common.plots import pyplot, save_figure

MARKER = "COMPLETE"
_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The highest-numbered checkpoint-N folder that holds the completion marker."""
    found = [
        (int(m.group(1)), p)
        for p in folder.glob("checkpoint-*")
        if (m := _CKPT_RE.match(p.name)) and (p / MARKER).exists()
    ]
    return max(found)[1] if found else None


class TrainLog(TrainerCallback):
    """Append {step, loss, lr, tokens_per_s, ...} to train_log.jsonl at every logging step."""

    def __init__(self, path: Path):
        self.path = path
        self._t, self._tokens = None, 0

    def on_train_begin(self, args, state, control, **kw):
        self._t, self._tokens = time.perf_counter(), state.num_input_tokens_seen
        # A resumed run rewrites history from its checkpoint on: drop log lines past it.
        if self.path.exists():
            keep = [r for r in read_jsonl(self.path, allow_torn_tail=True) if r["step"] <= state.global_step]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in keep))

    def on_log(self, args, state, control, logs=None, **kw):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        now = time.perf_counter()
        tokens = state.num_input_tokens_seen
        logs["tokens_per_s"] = round((tokens - self._tokens) / max(now - self._t, 1e-9), 1)
        self._t, self._tokens = now, tokens
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "loss": logs["loss"],
               "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
               "tokens_per_s": logs["tokens_per_s"], "tokens_seen": tokens}  # fmt: skip
        with JsonlAppender(self.path) as out:
            out.write(row)

    def on_save(self, args, state, control, **kw):
        if state.is_world_process_zero:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                fault_point("checkpoint")  # saved but not yet marked: what a crash mid-save leaves
                atomic_write_text(ckpt / MARKER, f"step {state.global_step}\n")


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux reports KiB)."""

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class MemoryLog(TrainerCallback):
    """Peak resident memory per process: after the model is loaded and sharded, and at the end.

    memory.json lists one entry per rank; it is what `thinkscale plan` is checked against on CPU,
    and it shows ram-efficient loading at work (rank 0 alone reads the weights)."""

    def __init__(self, before_load: float):
        self.before_load, self.after_load, self.held = before_load, None, None

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.after_load = peak_rss_mib()
        # Parameters this process holds: its shards under FSDP (DTensor), the whole model otherwise.
        self.held = sum(getattr(p, "_local_tensor", p).numel() for p in model.parameters()) if model else None

    def gather(self) -> list[dict]:
        import torch.distributed as dist

        mine = {"parameters_held": self.held, "peak_rss_before_load_mib": self.before_load,
                "peak_rss_after_load_mib": self.after_load, "peak_rss_mib": peak_rss_mib()}  # fmt: skip
        if not (dist.is_available() and dist.is_initialized()):
            return [mine]
        every = [None] * dist.get_world_size()
        dist.all_gather_object(every, mine)
        return every


def plot_loss(log_path: Path, png: Path) -> None:
    """loss.png: training loss and learning rate by step."""

    # A run shorter than --logging-steps logs nothing (an IBPO round on a handful of examples).
    rows = read_jsonl(log_path, allow_torn_tail=True) if Path(log_path).exists() else []
    if not rows:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], color="#4C72B0", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax2 = ax.twinx()
    ax2.plot([r["step"] for r in rows], [r["lr"] for r in rows], color="#DD8452", alpha=0.6, label="lr")
    ax2.set_ylabel("learning rate")
    save_figure(fig, png)
