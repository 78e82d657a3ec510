"""Benchmark harness: run cases interleaved, report medians and ratios against an in-run baseline.

    from bench.harness import Case, compare
    results = compare([Case("baseline", f0), Case("ours", f1, work=n_tokens)], baseline="baseline")

Cases run round-robin (baseline, ours, baseline, ours, ...) after a warm-up, so drift in machine
load touches every case alike; the ratio reported is baseline_time / case_time (> 1: faster than
the baseline). `work` (tokens, rows, ...) turns times into throughputs. `matmul_gflops` measures
this machine's matrix-multiply rate in the same run, a roofline to compare model throughput with.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Case:
    name: str
    fn: Callable[[], object]
    work: float | None = None  # units of work one call does, for throughput
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def compare(cases: list[Case], baseline: str, repeats: int = 3, warmup: int = 1) -> list[Case]:
    """Time each case `repeats` times, interleaved, after `warmup` untimed rounds."""
    names = [c.name for c in cases]
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not among the cases {names}")
    for _ in range(warmup):
        for c in cases:
            c.fn()
    for _ in range(repeats):
        for c in cases:
            start = time.perf_counter()
            c.fn()
            c.times.append(time.perf_counter() - start)
    return cases


def table(cases: list[Case], baseline: str, unit: str = "") -> str:
    """Markdown table of medians, ratios against the baseline, and throughput when work is known."""
    base = next(c for c in cases if c.name == baseline).median
    rows = [
        "| case | median s | speed vs " + baseline + (f" | {unit}/s" if unit else "") + " |",
        "|---|---|---|" + ("---|" if unit else ""),
    ]
    for c in cases:
        row = f"| {c.name} | {c.median:.3f} | {base / c.median:.2f}x"
        if unit:
            row += f" | {c.work / c.median:.1f}" if c.work else " | "
        rows.append(row + " |")
    return "\n".join(rows)


def matmul_gflops(n: int = 1024, dtype: str = "float32", seconds: float = 1.0) -> float:
    """Sustained GFLOP/s of an n x n matrix multiply on this machine, now."""
    import torch

    a = torch.randn(n, n, dtype=getattr(torch, dtype))
    b = torch.randn(n, n, dtype=getattr(torch, dtype))
    a @ b  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20
