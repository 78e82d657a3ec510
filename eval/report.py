"""Turn an evaluation's samples into metrics.json, summary.md and scaling.png.

Samples are grouped by (model label, method, sweep point); each point gets its accuracy with a 95%
interval (`eval.intervals`: Wilson for one sample per question; pass@1 averaged over N samples per
question with the question bootstrap), mean thinking tokens and the [lo, hi] it asked for. Each
method gets s1's Control / Scaling / Performance over its points (`eval.metrics`); Scaling carries a
paired bootstrap interval over questions, and the gain from its least- to its most-thinking point a
paired one too. Also: how often the format was followed (the thinking closed — by the model or by the
decoder — and the answer held an extractable answer), how often the model closed its thinking by
itself, and for rejection sampling the tries it took and how often the cap was hit without a fit.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from thinkscale.common.plots import pyplot, save_figure
from thinkscale.eval.intervals import (
    S1_RESAMPLES,
    bootstrap,
    clustered_se,
    mean_interval,
    paired_gain,
    per_question_mean,
    percent,
)
from thinkscale.eval.methods import bounds
from thinkscale.eval.metrics import SCALING_UNIT, Point, s1_metrics, scaling


def _sort_key(point):
    return (0, point) if isinstance(point, int | float) else (1, {"short": 0, "long": 1}.get(point, 2))


def _scaling_of(columns: list, bounds_: list) -> float | None:
    # Bootstrap statistic: the first half of the columns are per-question accuracies per point, the
    # second half per-question thinking tokens, in the same point order.
    k = len(columns) // 2
    return scaling(
        [Point(float(columns[k + i].mean()), float(columns[i].mean()), *bounds_[i]) for i in range(k)]
    )


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def method_metrics(samples: list[dict], budgets: list[int]) -> dict:
    """metrics.json's `methods`: per label, the points with their intervals and s1's metrics."""
    groups: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        groups[s["label"]][s["budget"]].append(s)
    out = {}
    for label, by_point in groups.items():
        method = by_point[next(iter(by_point))][0]["method"]
        points, rows, accs, thinks, bounds_ = [], [], [], [], []
        for point in sorted(by_point, key=_sort_key):
            ss = by_point[point]
            lo, hi = bounds(method, point, budgets)
            by_q = per_question_mean(ss)
            per_q = max(len(ss) // max(len(by_q), 1), 1)
            acc = sum(by_q.values()) / len(by_q)
            think_q = per_question_mean(ss, "thinking_tokens")
            think = sum(s["thinking_tokens"] for s in ss) / len(ss)
            points.append(Point(think, acc, lo, hi))
            accs.append(by_q)
            thinks.append(think_q)
            bounds_.append((lo, hi))
            ci = mean_interval(by_q, per_q)
            row = {"point": point, "n": len(by_q), "samples_per_question": per_q, "accuracy": round(acc, 4),
                   "ci95": [round(ci[0], 4), round(ci[1], 4)], "mean_thinking_tokens": round(think, 1),
                   "bounds": [lo, hi], "mean_tries": round(sum(s["tries"] for s in ss) / len(ss), 2),
                   "closed_by_model": round(sum(s["think_end_reason"] == "delimiter" for s in ss) / len(ss), 4),
                   "se": round(clustered_se(by_q), 4),
                   "fallback_answers": sum(bool(s.get("fallback")) for s in ss)}  # fmt: skip
            if method == "rejection_sampling":
                # The cap is a safety limit; a sample that used every try and still did not fit is
                # counted, so Control's failures can be told from the cap.
                row["max_tries"] = max(s["tries"] for s in ss)
                row["unfit"] = round(sum(s["thinking_tokens"] > hi for s in ss) / len(ss), 4)
            rows.append(row)
        m = s1_metrics(points)
        every = [s for ss in by_point.values() for s in ss]
        scaling_ci = (bootstrap(accs + thinks, lambda cols, b=bounds_: _scaling_of(cols, b), S1_RESAMPLES)
                      if len(points) > 1 else None)  # fmt: skip
        by_compute = sorted(range(len(points)), key=lambda i: points[i].thinking)
        gain = (
            paired_gain(accs[by_compute[0]], accs[by_compute[-1]], S1_RESAMPLES)
            if len(points) > 1
            else (None, None)
        )
        out[label] = {"method": method, "control": round(m.control, 4),
                      "scaling": _r(m.scaling, 4), "scaling_unit": SCALING_UNIT,
                      "scaling_ci95": None if scaling_ci is None else [round(v, 4) for v in scaling_ci],
                      "gain": _r(gain[0]), "gain_ci95": None if gain[1] is None else [round(v, 4) for v in gain[1]],
                      "performance": round(m.performance, 4),
                      "performance_ci95": max(rows, key=lambda r: r["accuracy"])["ci95"],
                      "format_followed": round(sum(bool(s["answer"]) and s["extracted"] is not None for s in every) / len(every), 4),
                      "points": rows}  # fmt: skip
    return out


def summary_cells(m: dict) -> dict[str, str]:
    """One method's summary.md cells as text (n, points, control, scaling, gain, performance,
    format): the docs' tables are cut from the same cells (`tools/docs_results.py`)."""
    pts = "; ".join(
        f"{p['point']} → {percent(p['accuracy'], p['ci95'])} ({p['mean_thinking_tokens']:.0f})"
        for p in m["points"]
    )
    scaling = "n/a" if m["scaling"] is None else f"{m['scaling']:.1f}"
    if m.get("scaling_ci95"):
        scaling += f" [{m['scaling_ci95'][0]:.1f}, {m['scaling_ci95'][1]:.1f}]"
    gain = "n/a" if m.get("gain") is None else percent(m["gain"], m.get("gain_ci95"), signed=True)
    p0 = m["points"][0]
    n = max(p["n"] for p in m["points"])
    n_text = f"{n}×{p0['samples_per_question']}" if p0.get("samples_per_question", 1) > 1 else f"{n}"
    return {"n": n_text, "points": pts, "control": f"{m['control']:.0%}", "scaling": scaling, "gain": gain,
            "performance": percent(m["performance"], m.get("performance_ci95")),
            "format": f"{m['format_followed']:.1%}"}  # fmt: skip


def points_by_benchmark(runs: list[tuple[str, dict]]) -> dict[tuple[str, str], dict[str, dict]]:
    """Several benchmarks' metrics (name, methods) as s1's Table 1 lays them out: (label, point) ->
    {benchmark: that point's metrics}, rows in the order they first appear (the study's table and the
    docs' tables, `tools/docs_results.py`)."""
    rows: dict[tuple[str, str], dict[str, dict]] = {}
    for name, metrics in runs:
        for label, m in metrics.items():
            for p in m["points"]:
                rows.setdefault((label, str(p["point"])), {})[name] = p
    return rows


def summary_markdown(metrics: dict, title: str) -> str:
    """summary.md: one row per method; accuracies in % with their 95% intervals in brackets."""
    lines = [f"# {title}", "",
             "Accuracy in % [95% interval]; Scaling in accuracy points per doubling of thinking tokens (s1's "
             "formula on its log2 token axis, the units of its Table 3) "
             "[95% paired bootstrap]; gain: the most- minus the least-thinking point, in points [paired 95%].", "",
             "| method | n | points: budget → accuracy [95%] (mean thinking tokens) | Control | Scaling (points/doubling) | gain | Performance | format |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, m in metrics.items():
        c = summary_cells(m)
        lines.append(f"| {label} | {c['n']} | {c['points']} | {c['control']} | {c['scaling']} | {c['gain']} | "
                     f"{c['performance']} | {c['format']} |")  # fmt: skip
    for note in rejection_notes(metrics):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def rejection_notes(metrics: dict) -> list[str]:
    """Rejection sampling's tries per point, a line per such method (summary.md and the docs)."""
    return [f"{label}: tries per question (mean / most) and share that used every try without fitting: "
            + "; ".join(f"{p['point']} → {p['mean_tries']:.2f} / {p['max_tries']} / {p['unfit']:.0%}" for p in m["points"])
            for label, m in metrics.items() if m["method"] == "rejection_sampling"]  # fmt: skip


def scaling_plot(metrics: dict, path: Path, title: str) -> None:
    """scaling.png: accuracy against mean thinking tokens, a line per method, intervals shaded."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    _draw(ax, metrics, title)
    save_figure(fig, path)


def benchmarks_plot(panels: list[tuple[str, dict]], path: Path, title: str) -> None:
    """One figure, a panel per benchmark (the several-benchmark study's `<run>_scaling.png`), the
    same methods in the same colours in every panel."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.6), squeeze=False)
    for ax, (name, metrics) in zip(axes[0], panels, strict=True):
        _draw(ax, metrics, name)
    fig.suptitle(title)
    save_figure(fig, path)


def _draw(ax, metrics: dict, title: str) -> None:
    for label, m in metrics.items():
        pts = sorted(m["points"], key=lambda p: p["mean_thinking_tokens"])
        xs = [p["mean_thinking_tokens"] for p in pts]
        (line,) = ax.plot(xs, [100 * p["accuracy"] for p in pts], marker="o", label=label)
        if all(p.get("ci95") for p in pts):  # the 95% interval of each point, shaded
            ax.fill_between(xs, [100 * p["ci95"][0] for p in pts], [100 * p["ci95"][1] for p in pts],
                            color=line.get_color(), alpha=0.12, linewidth=0)  # fmt: skip
    # s1 draws every scaling plot on a log2 token axis; Scaling is the slope on it (points per doubling)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("average thinking tokens (log2 axis)")
    ax.set_ylabel("accuracy (%), 95% intervals shaded")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
