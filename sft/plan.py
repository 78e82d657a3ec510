"""Memory plan for a fine-tuning recipe, before anyone books GPUs: per-device memory and whether it fits.

    thinkscale plan --config recipes/qwen2.5-32b/sft.yaml --gpus 16 --gpu-memory 80
    thinkscale plan --config recipes/smollm2-135m/sft.yaml --gpus 2 --target cpu

Reads the model's config only (no weights). The terms, per device, for FSDP full shard over N devices
(what sft.train runs; 1 device: no sharding), in GiB:

- parameters, gradients, optimizer: fp32 master weights (4 bytes/parameter), fp32 gradients (4) and
  Adam's two moments (8), / N;
- gathered: the unsharded compute copy of the root unit (embeddings, output layer, final norm, which
  FSDP keeps gathered from forward to backward) plus two decoder layers (the current and the prefetched);
- activations at one block of `block_size` tokens: with checkpointing each layer keeps its input
  (tokens x hidden); without, every layer keeps all of its own (input, norms, q/k/v, attention
  output, MLP gate/up/activation/product);
- logits and loss: the output layer's logits in the compute dtype, their fp32 copy and the fp32
  log-softmax cross-entropy keeps for backward (tokens x vocabulary x 10 bytes under bf16). With
  checkpointing, one layer's recomputation in backward comes after the logits are freed; the term is
  the larger of the two;
- overhead: the CUDA context and allocator slack (1 GiB on a GPU; on CPU 1.25 GiB above the process's
  pre-load baseline, which `memory.json` reports as `peak_rss_before_load_mib`).

The loss is computed while every layer's kept activations are held, so those and the logits add. Checked against the published facts (tests/test_plan.py): Qwen2.5-32B
at 32768 tokens does not fit 16 x 80 GB (s1 issues #13, #59, #61); at 20000 (s1.1) it does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import parse_config, run_cli
from thinkscale.common.errors import ConfigError
from thinkscale.inference.models.load import ModelArgs, resolve_model
from thinkscale.sft.args import SFTArgs

GIB = 2**30
# On CPU, what a training process adds above its pre-load baseline besides the terms below (libraries
# loaded during the run, gloo's buffers, the optimizer step's temporaries, allocator slack): fitted on
# the default model at block 512, then checked at block 2048 (bench/bench_plan.py, docs/benchmarks.md).
CPU_OVERHEAD = 1.25


@dataclass
class PlanArgs:
    _argument_group_name = "memory plan"  # its flags' heading in --help
    gpus: int = field(default=16, metadata={"help": "Devices sharing the model (FSDP full shard)."})
    gpu_memory: float = field(default=80.0, metadata={"help": "Memory per device, GiB."})
    target: str = field(
        default="gpu", metadata={"help": "gpu (bf16 compute) or cpu (fp32, as sft.train runs there)."}
    )
    activation_checkpointing: bool = field(
        default=True, metadata={"help": "Recompute activations (recipes/accelerate/fsdp_trainer.json: on)."}
    )
    overhead_gib: float = field(
        default=-1.0, metadata={"help": "Fixed per-device overhead, GiB (-1: 1 on gpu, 1.25 on cpu)."}
    )

    def __post_init__(self) -> None:
        if self.gpus < 1:
            raise ConfigError(f"--gpus must be >= 1, got {self.gpus}")
        if self.gpu_memory <= 0:
            raise ConfigError(f"--gpu-memory must be > 0 GiB, got {self.gpu_memory}")
        if self.overhead_gib < 0 and self.overhead_gib != -1:
            raise ConfigError(f"--overhead-gib must be >= 0 (or -1: the default), got {self.overhead_gib}")
        if self.target not in ("gpu", "cpu"):
            raise ConfigError(f"--target must be gpu or cpu, got {self.target!r}")


@dataclass
class Shape:
    """What the plan needs of a model: its sizes, read from the config."""

    params: int
    layer_params: int
    root_params: int
    layers: int
    hidden: int
    kv_hidden: int
    intermediate: int
    vocab: int

    @classmethod
    def of(cls, config) -> Shape:
        h, i, v, n = config.hidden_size, config.intermediate_size, config.vocab_size, config.num_hidden_layers
        heads = config.num_attention_heads
        kv = getattr(config, "num_key_value_heads", heads) * getattr(config, "head_dim", h // heads)
        bias = 1 if getattr(config, "attention_bias", False) or config.model_type.startswith("qwen2") else 0
        layer = h * h * 2 + 2 * h * kv + bias * (h + 2 * kv) + 3 * h * i + 2 * h
        tied = getattr(config, "tie_word_embeddings", False)
        root = v * h * (1 if tied else 2) + h
        return cls(n * layer + root, layer, root, n, h, kv, i, v)


def estimate(shape: Shape, tokens: int, plan: PlanArgs) -> dict[str, float]:
    """Per-device memory, GiB, by term (see the module docstring)."""
    compute = 4 if plan.target == "cpu" else 2  # bytes per element of the compute copy and activations
    per_token_layer = 7 * shape.hidden + 2 * shape.kv_hidden + 4 * shape.intermediate
    kept = shape.hidden if plan.activation_checkpointing else per_token_layer
    logit_bytes = 8 if compute == 4 else 10  # fp32 logits + log-softmax; bf16 adds its fp32 copy
    logits = tokens * shape.vocab * logit_bytes
    # The loss runs while every layer's kept activations are held; one layer's recomputation comes
    # later in backward, after the logits are freed: the larger of the two sets the peak.
    recompute = tokens * per_token_layer * compute if plan.activation_checkpointing else 0
    overhead = (
        plan.overhead_gib if plan.overhead_gib >= 0 else (1.0 if plan.target == "gpu" else CPU_OVERHEAD)
    )
    sharded = plan.gpus > 1
    terms = {
        "parameters": 4 * shape.params / plan.gpus,  # fp32 master weights
        "gradients": 4 * shape.params / plan.gpus,
        "optimizer": 8 * shape.params / plan.gpus,  # Adam's two moments
        "gathered": compute * (shape.root_params + 2 * shape.layer_params) if sharded else 0.0,
        "activations": tokens * shape.layers * kept * compute,
        "logits": max(logits, recompute),
    }
    out = {k: v / GIB for k, v in terms.items()}
    out["overhead"] = overhead
    out["total"] = sum(out.values())
    return out


def fits(shape: Shape, tokens: int, plan: PlanArgs) -> bool:
    return estimate(shape, tokens, plan)["total"] <= plan.gpu_memory


def smallest_gpus(shape: Shape, tokens: int, plan: PlanArgs, most: int = 1024) -> int | None:
    """The fewest devices on which `tokens` fit (None: not even `most`; activations do not shard)."""
    return next((n for n in range(1, most + 1) if fits(shape, tokens, replace(plan, gpus=n))), None)


def largest_block(shape: Shape, plan: PlanArgs) -> int:
    """The longest block (tokens, a multiple of 256) that fits on `plan.gpus` devices; 0 if none."""
    lo, hi = 0, 1 << 22
    while hi - lo > 256:
        mid = (lo + hi) // 2 // 256 * 256
        lo, hi = (mid, hi) if fits(shape, mid, plan) else (lo, mid)
    return lo


def report(name: str, shape: Shape, tokens: int, plan: PlanArgs) -> str:
    est = estimate(shape, tokens, plan)
    other = estimate(shape, tokens, replace(plan, activation_checkpointing=not plan.activation_checkpointing))
    verdict = "fits" if est["total"] <= plan.gpu_memory else "does NOT fit"
    lines = [f"{name}: {shape.params / 1e9:.2f}B parameters, block {tokens} tokens, {plan.gpus} x "
             f"{plan.gpu_memory:g} GiB ({plan.target}), activation checkpointing {'on' if plan.activation_checkpointing else 'off'}"]  # fmt: skip
    lines += [f"  {k:<12}{v:8.2f} GiB" for k, v in est.items()]
    lines.append(f"  (activation checkpointing {'off' if plan.activation_checkpointing else 'on'}: activations "
                 f"{other['activations']:.2f} GiB, total {other['total']:.2f} GiB)")  # fmt: skip
    lines.append(f"  -> {verdict} ({est['total']:.1f} of {plan.gpu_memory:g} GiB per device)")
    lines.append(f"  largest block on {plan.gpus} devices: {largest_block(shape, plan)} tokens")
    need = smallest_gpus(shape, tokens, plan)
    lines.append(
        f"  fewest devices for block {tokens}: {need if need else 'none (activations and logits do not shard)'}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from transformers import AutoConfig

    model_args, _, args, plan = parse_config(
        [ModelArgs, FormatArgs, SFTArgs, PlanArgs], argv, doc=__doc__, hidden=["restart"]
    )
    config = AutoConfig.from_pretrained(resolve_model(model_args.model, model_args.revision))
    print(report(model_args.model, Shape.of(config), args.block_size, plan))
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
