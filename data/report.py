"""The curation report: counts after each stage, the domain histogram, length statistics, and a PNG.

report = build_report(stages, chosen, extras); write_histograms(chosen, path)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from thinkscale.common.plots import pyplot, save_figure


def length_stats(values: list[int]) -> dict:
    """min / mean / median / p90 / max / total of a list of token counts (empty: zeros)."""
    if not values:
        return {"count": 0, "min": 0, "mean": 0.0, "median": 0.0, "p90": 0.0, "max": 0, "total": 0}
    a = np.asarray(values)
    return {"count": int(a.size), "min": int(a.min()), "mean": round(float(a.mean()), 1),
            "median": float(np.median(a)), "p90": float(np.percentile(a, 90)), "max": int(a.max()),
            "total": int(a.sum())}  # fmt: skip


def build_report(stages: list[tuple[str, int]], chosen: list[dict], extras: dict) -> dict:
    """The report.json object."""
    return {
        "counts": dict(stages),
        "stage_order": [name for name, _ in stages],
        "domains": dict(sorted(Counter(r["domain"] for r in chosen).items())),
        "levels": {
            str(k): v for k, v in sorted(Counter(r.get("level") for r in chosen if r.get("level")).items())
        },
        "sources": dict(sorted(Counter(r["source"] for r in chosen).items())),
        "trace_tokens": length_stats([r["trace_tokens"] for r in chosen]),
        "total_tokens": length_stats([r["num_tokens"] for r in chosen]),
        "verified_traces": sum(1 for r in chosen if r.get("meta", {}).get("verified")),
        "traces_with_caught_slip": sum(1 for r in chosen if r.get("meta", {}).get("slip")),
        **extras,
    }


def write_histograms(chosen: list[dict], path: str | Path) -> None:
    """A PNG with the domain histogram and the trace-length histogram (written atomically)."""
    plt = pyplot()
    domains = Counter(r["domain"] for r in chosen)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = sorted(domains)
    ax1.barh(names, [domains[n] for n in names], color="#4C72B0")
    ax1.invert_yaxis()
    ax1.set_xlabel("rows")
    ax1.set_title(f"Domains ({len(chosen)} rows)")
    ax2.hist([r["trace_tokens"] for r in chosen], bins=30, color="#55A868")
    ax2.set_xlabel("reasoning trace length (tokens)")
    ax2.set_ylabel("rows")
    ax2.set_title("Trace lengths")
    save_figure(fig, path)
