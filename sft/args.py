"""The fine-tuning recipe: `SFTArgs` (recipe keys of the same names) and its validation.

The defaults are s1-32B's recipe (lr 1e-5, cosine to 0, warmup 5%, 5 epochs, weight decay 1e-4,
AdamW 0.9/0.95, global batch 16, block size 32768); `recipes/smollm2-135m/sft.yaml` scales them
down for a CPU. The global batch stays fixed whatever the number of processes: gradient accumulation
= global batch / (processes x micro batch), which must divide exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from thinkscale.common.errors import ConfigError
from thinkscale.common.recipes import resolve as resolve_recipe
from thinkscale.common.validate import at_least, within


@dataclass
class SFTArgs:
    _argument_group_name = "training"  # its flags' heading in --help
    name: str = field(default="default", metadata={"help": "Output folder name under outputs/sft/."})
    output_root: str | None = field(default=None, metadata={"help": "Outputs root (default ./outputs)."})
    dataset: str = field(
        default="smollm2-135m-builtin",
        metadata={"help": "A make-data run name (outputs/data/<name>), its folder, or a train.jsonl file."},
    )
    block_size: int = field(default=32768, metadata={"help": "Most tokens per training block (s1: 32768)."})
    packing: bool = field(default=True, metadata={"help": "Pack several examples per block (no padding)."})
    over_length: str = field(
        default="drop",
        metadata={
            "help": "Examples longer than --block-size: drop (counted), truncate to the block size "
            "(counted; s1's trainer cuts at its max_seq_length) or error."
        },
    )
    save_dtype: str = field(
        default="model",
        metadata={
            "help": "final/'s weights: model (in --dtype) or float32 (the fp32 master weights of a bf16 "
            "run, as s1 saves and evaluates them)."
        },
    )
    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate (s1: 1e-5)."})
    num_train_epochs: float = field(default=5.0, metadata={"help": "Epochs (s1: 5)."})
    max_steps: int = field(
        default=-1, metadata={"help": "Stop after this many optimizer steps (-1: epochs decide)."}
    )
    warmup_ratio: float = field(default=0.05, metadata={"help": "Share of steps warming up (s1: 0.05)."})
    lr_scheduler_type: str = field(
        default="cosine", metadata={"help": "Schedule after warm-up (s1: cosine to 0)."}
    )
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay (s1: 1e-4)."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1 (s1: 0.9)."})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2 (s1: 0.95)."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    global_batch_size: int = field(
        default=16,
        metadata={
            "help": "Blocks per optimizer step, all processes (s1: 16; with packing false a block is one example)."
        },
    )
    loss_weighting: str = field(
        default="token",
        metadata={"help": "token: mean over the step's learned tokens; example: each example's mean token "
                  "loss counts once (s1: one example per GPU, gradients averaged)."},
    )  # fmt: skip
    save_optimizer: bool = field(
        default=True,
        metadata={"help": "Checkpoints hold optimizer state (exact resume). false: model-only (sharded under "
                  "FSDP) restart points; Adam's moments restart (s1 saves none; ~8 bytes/param per save)."},
    )  # fmt: skip
    micro_batch_size: int = field(default=1, metadata={"help": "Blocks per process per forward pass."})
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute activations (saves memory)."}
    )
    logging_steps: int = field(default=1, metadata={"help": "Log every this many steps."})
    save_steps: int = field(default=50, metadata={"help": "Checkpoint every this many steps."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep the last this many checkpoints."})
    fsdp: str = field(
        default="",
        metadata={
            "help": "torchrun path: Trainer FSDP options, e.g. 'full_shard auto_wrap' (accelerate launch: "
            "leave empty and use recipes/accelerate/fsdp.yaml)."
        },
    )
    fsdp_config: str | None = field(
        default=None,
        metadata={"help": "torchrun path: Trainer FSDP config JSON (recipes/accelerate/fsdp_trainer.json)."},
    )
    resume: bool = field(
        default=True,
        metadata={"help": "Continue an interrupted run from its newest complete checkpoint (the default)."},
    )
    restart: bool = field(
        default=False,
        metadata={
            "help": "Start over: delete this run's checkpoints, log and final/ first (resume is the default)."
        },
    )
    seed: int = field(
        default=0, metadata={"help": "Seed of initialisation-free randomness: data order, dropout."}
    )

    def __post_init__(self) -> None:
        if (
            self.fsdp_config
        ):  # a file, else a packaged one (`recipes/accelerate/fsdp_trainer.json` outside a checkout)
            self.fsdp_config = str(resolve_recipe(self.fsdp_config))
        for name in ("block_size", "global_batch_size", "micro_batch_size", "logging_steps", "save_steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        if self.loss_weighting not in ("token", "example"):
            raise ConfigError(f"--loss-weighting must be token or example, got {self.loss_weighting!r}")
        if self.over_length not in ("drop", "truncate", "error"):
            raise ConfigError(f"--over-length must be drop, truncate or error, got {self.over_length!r}")
        if self.save_dtype not in ("model", "float32"):
            raise ConfigError(f"--save-dtype must be model or float32, got {self.save_dtype!r}")
        if self.learning_rate <= 0:
            raise ConfigError(f"--learning-rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"--max-steps must be -1 (epochs decide) or >= 1, got {self.max_steps}")
        if self.num_train_epochs <= 0:
            raise ConfigError(f"--num-train-epochs must be > 0, got {self.num_train_epochs}")
        at_least(self, 0, "weight_decay", "max_grad_norm")
        at_least(self, 1, "save_total_limit")
        within(self, 0.0, 1.0, "adam_beta1", "adam_beta2", high_open=True)

    def accumulation_steps(self, world_size: int) -> int:
        """Gradient accumulation that keeps the global batch at `global_batch_size`."""
        per_step = world_size * self.micro_batch_size
        if self.global_batch_size % per_step:
            raise ConfigError(
                f"--global-batch-size {self.global_batch_size} is not divisible by processes x micro batch "
                f"= {world_size} x {self.micro_batch_size} = {per_step}"
            )
        return self.global_batch_size // per_step

    def schedule(self, blocks: int, world_size: int) -> dict:
        """Optimizer steps as the Trainer will take them: each process gets ceil(blocks / processes)
        micro-batches (accelerate evens them out), a step takes `accumulation` of them, and a partial
        last step still counts."""
        accumulation = self.accumulation_steps(world_size)
        per_process = math.ceil(blocks / (world_size * self.micro_batch_size))
        per_epoch = math.ceil(per_process / accumulation)
        total = self.max_steps if self.max_steps > 0 else math.ceil(per_epoch * self.num_train_epochs)
        return {"steps_per_epoch": per_epoch, "total_steps": total}
