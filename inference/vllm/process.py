"""Process-level helpers for vLLM engines: the cores this process may use, the environment that lets
vLLM use all of them on a CPU, and stopping an engine's processes. Imports nothing of vLLM."""

from __future__ import annotations

import os


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


def shutdown_llm(llm) -> None:
    """Stop a vLLM engine's processes (one LLM's engine core, or every data-parallel replica)."""
    if hasattr(llm, "shutdown"):
        llm.shutdown()
        return
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None:
        core.shutdown()
