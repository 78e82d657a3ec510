"""The strategy study's report: a table per label, the verifier's AUROC, the compute-optimal policy,
and one plot of every strategy's accuracy against generated tokens (budget forcing included).

Every accuracy carries its 95% Wilson interval (one answer per question and label); the
compute-optimal gain over weighted best-of-N carries a paired bootstrap interval over the test
questions (`eval.intervals`), both evaluated on every test question."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields
from pathlib import Path

from thinkscale.common.plots import pyplot, save_figure
from thinkscale.eval.compute import FIELDS, flops
from thinkscale.eval.intervals import paired_gain, percent, wilson
from thinkscale.eval.strategies.optimal import (
    FALLBACK,
    accuracy_and_tokens,
    best_label,
    choose,
    difficulty_levels,
    mean_outcome,
    outcomes,
)
from thinkscale.eval.verifier.head import auroc


def label_rows(records: list[dict], policy_params: float, verifier_params: float) -> list[dict]:
    groups = defaultdict(list)
    for r in records:
        groups[r["label"]].append(r)
    rows = []
    for label, rs in groups.items():
        n = len(rs)
        right = sum(r["correct"] for r in rs)
        row = {"label": label, "strategy": rs[0]["strategy"], "knob": rs[0]["knob"], "n": n,
               "accuracy": round(right / n, 4), "ci95": [round(v, 4) for v in wilson(right, n)]}  # fmt: skip
        for f in FIELDS:
            row[f] = round(sum(r[f] for r in rs) / n, 1)
        row["flops"] = sum(flops(r, policy_params, verifier_params) for r in rs) / n
        rows.append(row)
    return sorted(rows, key=lambda r: (r["strategy"], r["generated_tokens"]))


def verifier_auroc(samples: dict, ids: set) -> dict:
    rows = [s for q in ids if q in samples for s in samples[q]["samples"] if s.get("score") is not None]
    return {"samples": len(rows), "correct": sum(s["correct"] for s in rows),
            "auroc": auroc([s["score"] for s in rows], [s["correct"] for s in rows]) if rows else None}  # fmt: skip


def compute_optimal(val: list[dict], test: list[dict], samples: dict) -> dict:
    """The policy chosen on validation at each budget, applied to test, next to weighted best-of-N."""
    val_ids, test_ids = {r["id"] for r in val}, {r["id"] for r in test}

    def ease(ids, key):
        return {
            q: sum(s[key] or 0 for s in samples[q]["samples"]) / len(samples[q]["samples"])
            for q in ids
            if q in samples
        }

    budgets = sorted({round(r["generated_tokens"]) for r in label_rows(val, 0, 0)})
    out = {"budgets": budgets, "kinds": {}}
    for kind, key in (("oracle", "correct"), ("predicted", "score")):
        if key == "score" and not any(
            s.get("score") is not None for e in samples.values() for s in e["samples"]
        ):
            continue
        val_levels, edges = difficulty_levels(ease(val_ids, key))
        test_levels = difficulty_levels(ease(test_ids, key), None if kind == "oracle" else edges)[0]
        policy = choose(val, val_levels, budgets)
        curve = []
        for b in budgets:
            got = outcomes(policy, test, test_levels, b)
            acc, tokens = mean_outcome(got)
            bon = best_label(val, "wbon@", b)
            bon_acc, bon_tokens = _label_on(test, bon)
            gain, gain_ci = (None, None)
            if bon is not None and got:
                bon_by_q = {r["id"]: float(r["correct"]) for r in test if r["label"] == bon}
                gain, gain_ci = paired_gain(bon_by_q, {q: c for q, (c, _) in got.items()})
            curve.append({"budget": b, "n": len(got), "accuracy": round(acc, 4), "tokens": round(tokens, 1),
                          "ci95": [round(v, 4) for v in wilson(sum(c for c, _ in got.values()), len(got))] if got else None,
                          "bon_label": bon, "bon_accuracy": bon_acc, "bon_tokens": bon_tokens,
                          "gain": None if gain is None else round(gain, 4),
                          "gain_ci95": None if gain_ci is None else [round(v, 4) for v in gain_ci],
                          "choice": {lvl: policy.get((lvl, b)) for lvl in range(1, 6)},
                          "fallback": policy.get((FALLBACK, b))})  # fmt: skip
        out["kinds"][kind] = {"edges": edges, "curve": curve}
    return out


def _label_on(records: list[dict], label: str | None) -> tuple[float | None, float | None]:
    rs = [r for r in records if r["label"] == label]
    if not rs:
        return None, None
    accuracy, tokens = accuracy_and_tokens(rs)
    return round(accuracy, 4), round(tokens, 1)


def engine_totals(records: list[dict]) -> dict:
    """{"engine": {setting key: vLLM's work summed over its chunks (`EngineWork.to_dict`: with the
    prefix-cache hit rate)}}, or {} for a run without engine records (the transformers backend). A
    chunk's work is on each of its records: counted once per (key, split, chunk)."""
    from thinkscale.inference.vllm.tree import EngineWork

    seen, totals = set(), {}
    for r in records:
        e = r.get("engine")
        if not e or (r["key"], r.get("split"), e["chunk"]) in seen:
            continue
        seen.add((r["key"], r.get("split"), e["chunk"]))
        t = totals.setdefault(r["key"], EngineWork(preemptions=0))
        for f in fields(EngineWork):
            value, sum_ = e.get(f.name, 0), getattr(t, f.name)  # absent: a field newer than the record
            setattr(t, f.name, None if sum_ is None or value is None else sum_ + value)  # None: not counted
    return {"engine": {key: t.to_dict() for key, t in totals.items()}} if totals else {}


def markdown(title: str, rows: list[dict], aurocs: dict, optimal: dict) -> str:
    """summary.md: the label table, the verifier's AUROCs and a compute-optimal table per difficulty
    kind (the docs' tables are cut from the same functions: `tools/docs_results.py`)."""
    lines = [f"# {title}", "", "Accuracy in % [95% Wilson interval]; gains in points [paired 95% bootstrap over test questions].", "",
             label_table(rows), "", verifier_line(aurocs)]  # fmt: skip
    for kind, data in optimal.get("kinds", {}).items():
        lines += [
            "",
            f"## Compute-optimal ({kind} difficulty) vs weighted best-of-N, test split",
            "",
            optimal_table(data),
        ]
    return "\n".join(lines) + "\n"


def label_table(rows: list[dict]) -> str:
    """One row per strategy setting: accuracy [95%] and the compute account per question."""
    lines = ["| strategy | setting | n | accuracy | generated tok/q | prompt tok/q | model calls/q | verifier calls/q | GFLOPs/q |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['strategy']} | {r['label']} | {r['n']} | {percent(r['accuracy'], r.get('ci95'))} | {r['generated_tokens']:.0f} | "
                     f"{r['prompt_tokens']:.0f} | {r['model_calls']:.1f} | {r['verifier_calls']:.1f} | {r['flops'] / 1e9:.1f} |")  # fmt: skip
    return "\n".join(lines)


def verifier_line(aurocs: dict) -> str:
    return "Verifier (outcome score of the shared samples): " + "; ".join(
        f"{split}: AUROC {a['auroc']:.3f} on {a['samples']} samples ({a['correct']} correct)" if a["auroc"] is not None
        else f"{split}: AUROC n/a" for split, a in aurocs.items())  # fmt: skip


def optimal_table(data: dict) -> str:
    """One difficulty kind's curve: the policy's test accuracy at each budget beside weighted best-of-N's."""
    lines = ["| budget (tok/q) | compute-optimal acc (tok/q) | best-of-N acc (tok/q) | gain | choice per level 1..5 (fallback) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for c in data["curve"]:
        bon = (
            "—"
            if c["bon_label"] is None
            else f"{c['bon_accuracy']:.1%} ({c['bon_tokens']:.0f}, {c['bon_label']})"
        )
        gain = "—" if c["gain"] is None else f"{100 * c['gain'] + 0.0:+.1f} pts"  # + 0.0: no "-0.0"
        if c.get("gain_ci95"):
            gain += f" [{100 * c['gain_ci95'][0] + 0.0:+.1f}, {100 * c['gain_ci95'][1] + 0.0:+.1f}]"
        lines.append(f"| {c['budget']} | {percent(c['accuracy'], c.get('ci95'))} ({c['tokens']:.0f}) | {bon} | {gain} | "
                     + ", ".join(v or "(fallback)" for v in c["choice"].values()) + f" ({c.get('fallback')}) |")  # fmt: skip
    return "\n".join(lines)


def plot(rows: list[dict], optimal: dict, path: Path, title: str) -> None:
    """Accuracy against generated tokens (left) and against estimated FLOPs (right), one line per strategy."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    by = defaultdict(list)
    for r in rows:
        by[r["strategy"]].append(r)
    for ax, key, xlabel in ((axes[0], "generated_tokens", "generated tokens per question"),
                            (axes[1], "flops", "FLOPs per question (2 x parameters x tokens read and written)")):  # fmt: skip
        for strategy, rs in sorted(by.items()):
            rs = sorted(rs, key=lambda r: r[key])
            style = {"linewidth": 2.5, "color": "black"} if strategy == "budget_forcing" else {}
            xs = [r[key] for r in rs]
            (line,) = ax.plot(xs, [100 * r["accuracy"] for r in rs], marker="o", label=strategy, **style)
            if all(r.get("ci95") for r in rs):  # 95% Wilson intervals, shaded
                ax.fill_between(xs, [100 * r["ci95"][0] for r in rs], [100 * r["ci95"][1] for r in rs],
                                color=line.get_color(), alpha=0.1, linewidth=0)  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xlabel(f"{xlabel} (log scale)")
        ax.set_ylabel("accuracy (%), 95% intervals shaded")
        ax.grid(alpha=0.3)
    for kind, style in (("oracle", "k:"), ("predicted", "k--")):
        data = optimal.get("kinds", {}).get(kind)
        if data:
            pts = sorted({(c["tokens"], c["accuracy"]) for c in data["curve"] if c["tokens"]})
            axes[0].plot([t for t, _ in pts], [100 * a for _, a in pts], style, marker="*",
                         label=f"compute-optimal ({kind})")  # fmt: skip
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path, rect=(0, 0.1, 1, 1))  # the legend sits under both panels, off curves and labels
