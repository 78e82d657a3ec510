"""Where the real benchmark files (MATH500, GSM8K) are: $THINKSCALE_BENCHMARKS, else a
`shared/benchmarks` folder beside the checkout or any of its parents. Tests that need them skip
(with the reason) when none is found; they are read in place, never copied into the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def bench_dir() -> Path | None:
    env = os.environ.get("THINKSCALE_BENCHMARKS")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        cand = parent / "shared" / "benchmarks"
        if (cand / "math500.jsonl").exists():
            return cand
    return None


BENCH = bench_dir() or Path("/nonexistent")
needs_bench = pytest.mark.skipif(not (BENCH / "math500.jsonl").exists(), reason="benchmark files not found")
