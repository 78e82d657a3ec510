"""Data parallelism for vLLM's offline engine: N replicas in N processes behind one `LLM.generate`.

    llm = DataParallelLLM(source, {**llm_kwargs, "tensor_parallel_size": 2}, replicas=4, on_cuda=True)  # 8 GPUs
    outputs = llm.generate(prompts, params, use_tqdm=False)   # split over the replicas, in order
    llm.shutdown()

vLLM's offline `LLM` holds one replica per process (it refuses `data_parallel_size` > 1 there), so
`--data-parallel-size N` starts N worker processes, each with its own `LLM` on its own devices: on
CUDA a slice of `tensor_parallel_size` GPUs of the visible ones (`CUDA_VISIBLE_DEVICES`), on a CPU a
slice of the cores (`VLLM_CPU_OMP_THREADS_BIND`). A `generate` call deals its prompts to the
replicas in contiguous slices of near-equal size and returns the outputs in prompt order, so the
budget-forcing engine and the strategies' tree use it exactly as they use one `LLM`. Outputs come
back as plain objects with the fields the toolkit reads (`token_ids`, `finish_reason`,
`stop_reason`). Every replica must start, or none is used: a failed start stops the others and
raises vLLM's message.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from types import SimpleNamespace

from thinkscale.common.errors import ConfigError
from thinkscale.inference.vllm.process import shutdown_llm, usable_cores


def device_slices(replicas: int, tp: int, on_cuda: bool) -> list[dict[str, str]]:
    """Environment for each replica: its GPUs (CUDA) or its cores (CPU)."""
    if on_cuda:
        import torch

        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        gpus = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
        if len(gpus) < replicas * tp:
            raise ConfigError(
                f"--data-parallel-size {replicas} x --tensor-parallel-size {tp} needs {replicas * tp} GPUs; "
                f"{len(gpus)} are visible"
            )
        return [{"CUDA_VISIBLE_DEVICES": ",".join(gpus[r * tp : (r + 1) * tp])} for r in range(replicas)]

    cores = usable_cores()
    if len(cores) < replicas:
        raise ConfigError(
            f"--data-parallel-size {replicas} needs at least {replicas} cores; {len(cores)} are usable"
        )
    share = len(cores) // replicas
    return [{"VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, cores[r * share : (r + 1) * share]))}
            for r in range(replicas)]  # fmt: skip


def _worker(source: str, kwargs: dict, env: dict, inbox, outbox) -> None:
    """One replica: start an LLM, report its context length (or the error), then serve generate calls."""
    os.environ.update(env)
    try:
        from vllm import LLM

        llm = LLM(model=source, **kwargs)
        outbox.put(("ready", int(llm.llm_engine.model_config.max_model_len)))
    except Exception as e:  # noqa: BLE001  (any start-up failure is reported to the parent, not lost)
        outbox.put(("error", f"{type(e).__name__}: {e}"))
        return
    while (job := inbox.get()) is not None:
        prompts, params = job
        try:
            outs = llm.generate(prompts, params, use_tqdm=False)
            outbox.put(("ok", [SimpleNamespace(outputs=[SimpleNamespace(
                token_ids=list(o.outputs[0].token_ids), finish_reason=o.outputs[0].finish_reason,
                stop_reason=o.outputs[0].stop_reason)]) for o in outs]))  # fmt: skip
        except Exception as e:  # noqa: BLE001
            outbox.put(("error", f"{type(e).__name__}: {e}"))

    shutdown_llm(llm)


class DataParallelLLM:
    """`replicas` vLLM engines in worker processes behind `LLM.generate`; see the module docstring."""

    def __init__(self, source: str, llm_kwargs: dict, replicas: int, on_cuda: bool):
        ctx = mp.get_context("spawn")  # vLLM and CUDA do not survive fork
        envs = device_slices(replicas, int(llm_kwargs.get("tensor_parallel_size", 1)), on_cuda)
        self.workers = []
        for env in envs:
            inbox, outbox = ctx.Queue(), ctx.Queue()
            proc = ctx.Process(target=_worker, args=(source, llm_kwargs, env, inbox, outbox))
            proc.start()
            self.workers.append((proc, inbox, outbox))
        replies = [outbox.get() for _, _, outbox in self.workers]
        errors = [msg for kind, msg in replies if kind == "error"]
        if errors:
            self.shutdown()
            raise ConfigError(f"a data-parallel replica could not start: {errors[0]}")
        self.max_model_len = min(msg for _, msg in replies)

    def generate(self, prompts: list, sampling_params: list, use_tqdm: bool = False) -> list:
        n = len(self.workers)
        bounds = [len(prompts) * r // n for r in range(n + 1)]
        busy = []
        for (_, inbox, _), lo, hi in zip(self.workers, bounds, bounds[1:], strict=False):
            if hi > lo:
                inbox.put((prompts[lo:hi], sampling_params[lo:hi]))
                busy.append(True)
            else:
                busy.append(False)
        outs, error = [], None
        for (_, _, outbox), used in zip(self.workers, busy, strict=True):
            if used:
                kind, value = outbox.get()
                if kind == "error":
                    error = error or value
                else:
                    outs += value
        if error:
            raise ConfigError(f"a data-parallel replica failed: {error}")
        return outs

    def shutdown(self) -> None:
        for proc, inbox, _ in self.workers:
            if proc.is_alive():
                inbox.put(None)
        for proc, _, _ in self.workers:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
        self.workers = []
