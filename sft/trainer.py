"""The Trainer `sft.train` runs: transformers' Trainer plus three things s1's scale needs.

    trainer = trainer_class()(model=..., args=..., loss_weighting="example", save_optimizer=False, ...)

1. **FSDP on CPU processes.** accelerate turns FSDP on only for accelerators; on CPU processes
   (torchrun over gloo) it would quietly run plain data parallel. When the recipe asks for FSDP and
   the processes are CPU ones, the accelerate state is switched to FSDP2 here, so two CPU processes
   run the code 16 GPUs run: `fully_shard` per decoder layer, sharded checkpoints, a gathered final/.
2. **s1's loss weighting** (`loss_weighting: example`). s1 trains one example per GPU per step and
   averages gradients over 16 GPUs, so each example's mean token loss counts equally. The default
   ("token") averages over all learned tokens of the step, as transformers does. Here each learned
   token is weighted 1 / (its example's learned tokens) and the sum is divided by the examples of the
   whole step (all processes, all accumulation micro-steps): the same per-example mean, packed or not.
3. **Model-only checkpoints** (`save_optimizer: false`): at 32B the optimizer state is ~256 GB per
   save; s1 saves none. A model-only checkpoint (sharded under FSDP) is a restart point whose
   optimizer moments start again from zero; sft.train says so when it resumes from one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from thinkscale.sft.tokenize import IGNORE

log = logging.getLogger(__name__)

WEIGHTS = "token_weights"  # the collator's extra field under example weighting
SCHEDULER = "scheduler.pt"  # transformers' name for the scheduler state in a checkpoint


def has_optimizer_state(checkpoint) -> bool:
    """Whether a checkpoint folder holds optimizer state (a file or, under FSDP, a sharded folder)."""

    return any(p.name.startswith("optimizer") for p in Path(checkpoint).iterdir())


def example_weights(labels: list[int], starts: list[int]) -> list[float]:
    """Per token: 1 / (learned tokens of its example) where the *next* token is learned, else 0.

    `starts` are the examples' first positions in the row. The weight sits on the position whose
    logits predict the learned label, i.e. aligned with `labels[1:]` after the causal shift."""
    weights = [0.0] * len(labels)
    bounds = [*starts, len(labels)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        learned = [i for i in range(a + 1, b) if labels[i] != IGNORE]
        for i in learned:
            weights[i - 1] = 1.0 / len(learned)
    return weights


def trainer_class():
    """transformers' Trainer with the three additions above (imported lazily: transformers is heavy)."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
    from transformers import Trainer

    class SFTTrainer(Trainer):
        def __init__(self, *a, loss_weighting: str = "token", save_optimizer: bool = True, **kw):
            self.loss_weighting, self.save_optimizer = loss_weighting, save_optimizer
            super().__init__(*a, **kw)
            if loss_weighting == "example":
                self.loss_is_scaled_for_ga = True  # compute_loss divides by the step's examples itself

        def create_accelerator_and_postprocess(self):
            super().create_accelerator_and_postprocess()
            state = self.accelerator.state
            if self.args.fsdp_plugin_args is None or state.distributed_type != DistributedType.MULTI_CPU:
                return
            # The plugin accelerate would have built on GPUs; the Trainer then takes its FSDP code
            # paths (sharded saves and loads, state-dict gathering).
            state.fsdp_plugin = FullyShardedDataParallelPlugin(**self.args.fsdp_plugin_args)
            if state.mixed_precision != "no":
                state.fsdp_plugin.set_mixed_precision(state.mixed_precision)
            state.distributed_type = DistributedType.FSDP
            # Every later AcceleratorState() re-reads the type from the process-wide state: set it there too.
            PartialState._shared_state["distributed_type"] = DistributedType.FSDP
            self.is_fsdp_enabled = True
            log.info("FSDP2 on %d CPU processes (gloo)", state.num_processes)

        def _get_num_items_in_batch(self, batch_samples, device):
            if self.loss_weighting != "example":
                return super()._get_num_items_in_batch(batch_samples, device)
            # The step's examples over every process: each example's weights sum to 1.
            count = torch.tensor(sum(float(b[WEIGHTS].sum()) for b in batch_samples), device=device)
            if self.args.world_size > 1:
                count = self.accelerator.gather(count.reshape(1)).sum()
            return count.round()

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.loss_weighting != "example":
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            weights, labels = inputs.pop(WEIGHTS), inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs.logits[:, :-1].float()
            ce = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                ignore_index=IGNORE, reduction="none",
            )  # fmt: skip
            loss = (ce * weights[:, :-1].reshape(-1)).sum() / num_items_in_batch
            # Gradients are averaged over processes; the divisor above already counts all of them.
            loss = loss * self.accelerator.num_processes
            return (loss, outputs) if return_outputs else loss

        def _save_optimizer_and_scheduler(self, output_dir):
            if self.save_optimizer:
                return super()._save_optimizer_and_scheduler(output_dir)
            if self.is_fsdp_enabled:  # the sharded weights only: no gathering, no optimizer state
                from accelerate.utils import save_fsdp_model

                save_fsdp_model(self.accelerator.state.fsdp_plugin, self.accelerator, self.model, output_dir)
            if self.args.should_save:
                torch.save(self.lr_scheduler.state_dict(), f"{output_dir}/{SCHEDULER}")

        def _load_optimizer_and_scheduler(self, checkpoint):
            super()._load_optimizer_and_scheduler(checkpoint)
            if checkpoint is None or has_optimizer_state(checkpoint):
                return
            # A model-only checkpoint: the schedule goes on where it was; Adam's moments start again.
            log.warning(
                "%s is a model-only checkpoint (save_optimizer: false): Adam restarts from zero moments",
                checkpoint,
            )
            self.lr_scheduler.load_state_dict(torch.load(f"{checkpoint}/{SCHEDULER}", weights_only=True))

    return SFTTrainer
