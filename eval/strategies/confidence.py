"""A trace's confidence from its tokens' confidences (DeepConf, arXiv 2508.15260).

    trace_confidence(node.confs, window=2048)   # {"mean", "tail", "bottom10", "lowest"}

Over every sampled token of the trace (thinking and answer; `inference.forcing.steps.token_confidence`):
the mean; the tail (the last `window` tokens); the mean of the lowest 10% of its sliding windows of
`window` tokens (bottom10); the lowest window (lowest: the paper's "lowest group confidence"). A
trace no longer than a window has one window, all of it. Rounded to 4 decimals, as stored.
"""

from __future__ import annotations

import numpy as np

MEASURES = ("mean", "tail", "bottom10", "lowest")


def trace_confidence(confs: list[float], window: int) -> dict | None:
    """The trace's confidence by each measure (None for a trace with no sampled token)."""
    if not confs:
        return None
    c = np.asarray(confs, dtype=np.float64)
    if len(c) <= window:
        windows = np.array([c.mean()])
    else:
        sums = np.cumsum(np.concatenate([[0.0], c]))
        windows = (sums[window:] - sums[:-window]) / window
    bottom = np.sort(windows)[: max(1, int(0.1 * len(windows)))]
    return {"mean": round(float(c.mean()), 4), "tail": round(float(c[-window:].mean()), 4),
            "bottom10": round(float(bottom.mean()), 4), "lowest": round(float(windows.min()), 4)}  # fmt: skip
