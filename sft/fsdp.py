"""FSDP for `sft.train`: the same recipe keys shard the model on GPUs and on CPU processes.

    torchrun --nproc-per-node 2 -m thinkscale train --config recipes/smollm2-135m/sft.yaml \
        --fsdp "full_shard auto_wrap" --fsdp-config recipes/accelerate/fsdp_trainer.json

The Trainer's FSDP options go to accelerate's FSDP2 path (`fully_shard` on each decoder layer, then
on the root; activation checkpointing; sharded checkpoints; the full state dict gathered for final/).
accelerate enables that path only on accelerators: on CPU processes (torchrun over gloo) it would
quietly fall back to plain data parallel. `FSDPTrainer` switches the accelerate state to FSDP when the
recipe asks for it and the processes are CPU ones, so a laptop runs the very code 16 GPUs run.

`cpu_ram_efficient_loading` (rank 0 reads the weights; the others get their shards from it) needs two
things before the model loads: the process group, and the environment accelerate's launcher would
have set. `prepare_loading` does both; `load_for_rank` builds the model skeleton on the other ranks
(no weights read; storage allocated but untouched, so not resident) and copies rank 0's non-persistent buffers (rotary frequencies),
which no state dict carries.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.inference.models.load import (
    load_model,
    load_tokenizer,
    pick_attention,
    pick_device,
    pick_dtype,
    resolve_model,
)

log = logging.getLogger(__name__)


def fsdp_options(fsdp: str, fsdp_config: str | None) -> dict:
    """The run's FSDP config as a dict (keys without the `fsdp_` prefix); {} without FSDP.

    From the recipe's `fsdp` / `fsdp_config` (torchrun), else from the environment `accelerate launch
    --config_file recipes/accelerate/fsdp.yaml` sets up."""
    if not fsdp:
        if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() != "true":
            return {}
        return {"cpu_ram_efficient_loading": os.environ.get("FSDP_CPU_RAM_EFFICIENT_LOADING", "false")}
    if fsdp_config is None:
        return {"enabled": True}
    path = Path(fsdp_config)
    if not path.is_file():
        raise FileNotFoundError(f"--fsdp-config {fsdp_config}: no such file")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"--fsdp-config {fsdp_config}: not JSON ({e})") from e
    return {k.removeprefix("fsdp_"): v for k, v in raw.items()}


def ram_efficient(options: dict) -> bool:
    return str(options.get("cpu_ram_efficient_loading", "false")).lower() == "true"


def prepare_loading(options: dict, on_cpu: bool) -> None:
    """Before the model loads: start the process group (torchrun's environment) and set the flags that
    make transformers and accelerate treat this as an FSDP run, as `accelerate launch` would."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return
    from accelerate import PartialState

    PartialState(cpu=on_cpu)  # init_process_group (gloo on CPU, nccl on GPUs) from torchrun's env
    if options:
        os.environ["ACCELERATE_USE_FSDP"] = "true"
        os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = str(ram_efficient(options)).lower()


def load_for_rank(load, source: str, dtype, attn: str, options: dict):
    """Rank 0 (or every rank without ram-efficient loading) loads the weights with `load()`; the other
    ranks build the same model on the meta device and receive rank 0's non-persistent buffers."""
    import torch.distributed as dist

    if not (ram_efficient(options) and dist.is_available() and dist.is_initialized()):
        return load()
    rank = dist.get_rank()
    model = load() if rank == 0 else _meta_model(source, dtype, attn)
    buffers = [_non_persistent(model) if rank == 0 else None]
    dist.broadcast_object_list(buffers, src=0)
    if rank != 0:
        for name, value in buffers[0].items():
            owner, _, leaf = name.rpartition(".")
            model.get_submodule(owner).register_buffer(leaf, value, persistent=False)
    return model


def _meta_model(source: str, dtype, attn: str):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(source)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    # Storage that is allocated but never written stays out of resident memory; distinct storage (not
    # meta) matters because accelerate maps the optimizer's parameters to the sharded ones by address.
    model.to_empty(device="cpu")
    model.tie_weights()
    return model


def _non_persistent(model) -> dict:
    persistent = set(model.state_dict())
    return {n: b.detach().cpu() for n, b in model.named_buffers() if n not in persistent}


def load_training_model(model_args, options: dict):
    """(model, tokenizer) for training: every rank's copy, or the meta skeleton (see `load_for_rank`)."""

    source = resolve_model(model_args.model, model_args.revision)
    device = pick_device(model_args.device)
    model = load_for_rank(
        lambda: load_model(model_args, for_training=True)[0], source,
        pick_dtype(model_args.dtype, device), pick_attention(model_args.attn_implementation, device), options,
    )  # fmt: skip
    return model, load_tokenizer(source)
