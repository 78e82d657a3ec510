"""Turn an evaluation's samples into metrics.json, summary.md and scaling.png.

Samples are grouped by (model label, method, sweep point); each point gets its accuracy, mean
thinking tokens and the [lo, hi] it asked for, and each method gets s1's Control / Scaling /
Performance over its points (`eval.metrics`), plus how often the format was followed (the thinking
closed — by the model or by the decoder — and the answer held an extractable answer) and how often the
model closed its thinking by itself.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from common.plots import pyplot, save_figure
from eval.methods import bounds
from eval.metrics import Point, s1_metrics


def _sort_key(point):
    return (0, point) if isinstance(point, int | float) else (1, {"short": 0, "long": 1}.get(point, 2))


def method_metrics(samples: list[dict], budgets: list[int]) -> dict:
    groups: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        groups[s["label"]][s["budget"]].append(s)
    out = {}
    for label, by_point in groups.items():
        method = by_point[next(iter(by_point))][0]["method"]
        points, rows = [], []
        for point in sorted(by_point, key=_sort_key):
            ss = by_point[point]
            lo, hi = bounds(method, point, budgets)
            acc = sum(s["correct"] for s in ss) / len(ss)
            think = sum(s["thinking_tokens"] for s in ss) / len(ss)
            points.append(Point(think, acc, lo, hi))
            rows.append({"point": point, "n": len(ss), "accuracy": round(acc, 4), "mean_thinking_tokens": round(think, 1),
                         "bounds": [lo, hi], "mean_tries": round(sum(s["tries"] for s in ss) / len(ss), 2),
                         "closed_by_model": round(sum(s["think_end_reason"] == "delimiter" for s in ss) / len(ss), 4)})  # fmt: skip
        m = s1_metrics(points)
        every = [s for ss in by_point.values() for s in ss]
        out[label] = {"method": method, "control": round(m.control, 4),
                      "scaling": None if m.scaling is None else round(m.scaling, 6),
                      "performance": round(m.performance, 4),
                      "format_followed": round(sum(bool(s["answer"]) and s["extracted"] is not None for s in every) / len(every), 4),
                      "points": rows}  # fmt: skip
    return out


def summary_markdown(metrics: dict, title: str) -> str:
    lines = [f"# {title}", "", "| method | n | points: budget → accuracy (mean thinking tokens) | Control | Scaling ×100 | Performance | format |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, m in metrics.items():
        pts = "; ".join(
            f"{p['point']} → {p['accuracy']:.1%} ({p['mean_thinking_tokens']:.0f})" for p in m["points"]
        )
        scaling = "n/a" if m["scaling"] is None else f"{100 * m['scaling']:.3f}"
        n = max(p["n"] for p in m["points"])
        lines.append(
            f"| {label} | {n} | {pts} | {m['control']:.0%} | {scaling} | {m['performance']:.1%} | {m['format_followed']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def scaling_plot(metrics: dict, path: Path, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for label, m in metrics.items():
        pts = sorted(m["points"], key=lambda p: p["mean_thinking_tokens"])
        ax.plot(
            [p["mean_thinking_tokens"] for p in pts],
            [100 * p["accuracy"] for p in pts],
            marker="o",
            label=label,
        )
    ax.set_xlabel("average thinking tokens")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
