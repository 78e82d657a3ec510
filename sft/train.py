"""`make train`: supervised fine-tuning on the curated set — config, data, model, trainer, save.

    thinkscale train --config recipes/smollm2-135m/sft.yaml              # CPU default
    accelerate launch --config_file recipes/accelerate/fsdp.yaml -m thinkscale train --config recipes/qwen2.5-32b/sft.yaml

Loss only on the assistant turn (sft/tokenize.py), examples packed into blocks with per-example
position ids (sft/packing.py), transformers' Trainer with accelerate (FSDP from the accelerate
config), the global batch kept by gradient accumulation. Writes outputs/sft/<name>/: checkpoint-N/
(every --save-steps, the last --save-total-limit kept, each marked COMPLETE when whole; a rerun of
the same recipe resumes from the newest complete one, `--restart` starts over, and another recipe
under the same name is refused),
train_log.jsonl, loss.png, config.yaml, data_info.json and final/ — a model folder the chat and the
inference engine load directly (`--model outputs/sft/<name>/final`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import sys
from collections.abc import Sequence

import torch
import torch.distributed as dist
from transformers import TrainingArguments

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import parse_config, recipe_differences, run_cli, save_config
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_dir, atomic_write_json
from thinkscale.common.lock import run_lock
from thinkscale.common.paths import stage_dir
from thinkscale.common.provenance import provenance
from thinkscale.inference.models.load import ModelArgs, pick_device, pick_dtype
from thinkscale.sft.args import SFTArgs
from thinkscale.sft.callbacks import MemoryLog, TrainLog, last_complete_checkpoint, peak_rss_mib, plot_loss
from thinkscale.sft.dataset import build_blocks
from thinkscale.sft.fsdp import fsdp_options, load_training_model, prepare_loading
from thinkscale.sft.packing import PackedCollator
from thinkscale.sft.trainer import trainer_class

log = logging.getLogger("thinkscale.sft.train")


def training_arguments(args: SFTArgs, out, world_size: int, bf16: bool, use_cpu: bool = False):

    # transformers 5 renamed gradient_checkpointing; pass whichever this version has, only when on.
    name = (
        "activation_checkpointing"
        if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
        else "gradient_checkpointing"
    )
    extra = {name: True} if args.gradient_checkpointing else {}
    if args.fsdp:  # launched by torchrun: FSDP through the Trainer's own options
        extra.update(fsdp=args.fsdp, fsdp_config=args.fsdp_config)
    return TrainingArguments(
        **extra,
        # On CPU the Trainer must be told, or several torchrun processes each train alone as rank 0.
        use_cpu=use_cpu,
        output_dir=str(out), learning_rate=args.learning_rate, num_train_epochs=args.num_train_epochs,
        max_steps=args.max_steps, lr_scheduler_type=args.lr_scheduler_type, warmup_steps=args.warmup_ratio,  # < 1: a ratio
        weight_decay=args.weight_decay, adam_beta1=args.adam_beta1, adam_beta2=args.adam_beta2,
        max_grad_norm=args.max_grad_norm, per_device_train_batch_size=args.micro_batch_size,
        gradient_accumulation_steps=args.accumulation_steps(world_size), bf16=bf16,
        logging_steps=args.logging_steps,
        save_strategy="steps", save_steps=args.save_steps, save_total_limit=args.save_total_limit,
        seed=args.seed, data_seed=args.seed, report_to=[], remove_unused_columns=False,
        include_num_input_tokens_seen="all", dataloader_num_workers=0, dataloader_pin_memory=False,
    )  # fmt: skip


HOW_NOT_WHAT = (
    "resume",
    "restart",
    "max_steps",
    "output_root",
)  # how or where a run is reached, not what it trains


def _recipe_changes(out, *configs) -> list[str] | None:
    """Fields in which this recipe differs from the one the run folder was started with (None: no run yet)."""
    saved = out / "config.yaml"
    return recipe_differences(saved, *configs, ignore=HOW_NOT_WHAT) if saved.exists() else None


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _clear_run(out) -> None:
    """--restart: remove what an earlier run under this name wrote (rank 0 only)."""

    for path in [*out.glob("checkpoint-*"), out / "final"]:
        shutil.rmtree(path, ignore_errors=True)
    for name in ("train_log.jsonl", "loss.png", "config.yaml", "data_info.json", "memory.json"):
        (out / name).unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    model_args, fmt, args = parse_config([ModelArgs, FormatArgs, SFTArgs], argv, doc=__doc__)
    out = stage_dir("sft", args.name, args.output_root)
    # Several processes (torchrun) run this together: rank 0 holds the folder's lock and does the
    # clearing; every rank takes the same decisions from the same files.
    with run_lock(out, "training") if _is_rank_zero() else contextlib.nullcontext():
        return _train(out, model_args, fmt, args)


def _train(out, model_args, fmt, args) -> int:

    changes = None if args.restart else _recipe_changes(out, model_args, fmt, args)
    if changes:
        raise ConfigError(
            f"{out} holds a run of another recipe (differs in: {', '.join(changes)}); "
            "choose another --name, or pass --restart to delete it and start over"
        )
    if args.restart:
        if _is_rank_zero():
            _clear_run(out)
    elif (out / "final").exists() and changes == []:
        print(f"{out}/final: up to date with this recipe; nothing to do")
        return 0
    resume_from = last_complete_checkpoint(out) if args.resume and not args.restart else None
    if resume_from is not None:
        log.info("resuming from %s (--restart starts over)", resume_from)

    device = pick_device(model_args.device)
    on_cpu = device == "cpu"
    options = fsdp_options(args.fsdp, args.fsdp_config)
    prepare_loading(options, on_cpu)  # the process group first: ram-efficient loading needs it
    # bf16 training keeps fp32 master weights (bf16 compute by autocast, or FSDP's mixed precision):
    # pure bf16 weights lose most lr-1e-5 updates to rounding. final/ is written back in bf16, or in
    # fp32 with --save-dtype float32 (s1 saves and evaluates the fp32 weights).
    bf16 = pick_dtype(model_args.dtype, device) == torch.bfloat16
    master = dataclasses.replace(model_args, dtype="float32") if bf16 else model_args
    memory = MemoryLog(before_load=peak_rss_mib())
    model, tokenizer = load_training_model(master, options)
    # With a KV cache in the forward pass transformers does not read packed position ids as sequence
    # boundaries, and examples in a block would attend to each other: no cache in training.
    model.config.use_cache = False
    blocks, data_info = build_blocks(args, tokenizer)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    targs = training_arguments(args, out, world_size, bf16, use_cpu=on_cpu)
    data_info.update(processes=world_size, gradient_accumulation=targs.gradient_accumulation_steps,
                     examples_per_step=round(args.global_batch_size * data_info["examples"] / data_info["blocks"], 2),
                     loss_weighting=args.loss_weighting, **args.schedule(len(blocks), world_size))  # fmt: skip
    log.info("data: %s", data_info)

    trainer = trainer_class()(
        model=model, args=targs, train_dataset=[b.__dict__ for b in blocks],
        data_collator=PackedCollator(tokenizer.pad_token_id or 0, example_weights=args.loss_weighting == "example"),
        loss_weighting=args.loss_weighting, save_optimizer=args.save_optimizer,
    )  # fmt: skip
    # First in line, so the progress bar's log lines already carry tokens_per_s.
    trainer.callback_handler.callbacks.insert(0, TrainLog(out / "train_log.jsonl"))
    trainer.add_callback(memory)
    if trainer.is_world_process_zero():
        save_config(out / "config.yaml", model_args, fmt, args)
        atomic_write_json(out / "data_info.json", {**data_info, "provenance": provenance()})
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)

    if trainer.is_world_process_zero():
        plot_loss(out / "train_log.jsonl", out / "loss.png")
    trainer.accelerator.wait_for_everyone()
    state_dict = trainer.accelerator.get_state_dict(trainer.model)  # gathers FSDP shards on rank 0
    memory_by_rank = memory.gather()
    if trainer.is_world_process_zero():
        atomic_write_json(out / "memory.json", memory_by_rank)
        if bf16 and args.save_dtype == "model":
            state_dict = {
                k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state_dict.items()
            }
        with atomic_dir(out / "final", replace=True) as tmp:
            trainer.accelerator.unwrap_model(trainer.model).save_pretrained(tmp, state_dict=state_dict)
            tokenizer.save_pretrained(tmp)
        print(
            f"{out}/final: fine-tuned model ({data_info['examples']} examples, {trainer.state.global_step} steps)"
        )
    _end_processes(trainer)
    return 0


def _end_processes(trainer) -> None:
    """Every rank waits for rank 0's final/ write, then the process group is torn down before exit: a
    rank that exits with gloo's threads still running aborts ("terminate called without an active
    exception", SIGABRT), and torchrun then fails the whole run."""

    trainer.accelerator.wait_for_everyone()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
