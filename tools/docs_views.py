"""The views `tools/docs_results.py render` draws from a record (docs/results/<name>.json), one
function per view: view(record, spec) -> Markdown. The study, strategy and IBPO tables call the
functions that write each run's own summary.md, so the docs and the run folder cannot disagree.

    summary      one s1 study run (`benchmark` picks it): summary.md's table (`labels`, `names`,
                 `columns: "compact"`), then rejection sampling's tries unless compact
    benchmarks   several s1 study runs: a row per method and point, a column per benchmark
    stages       each `make` target's wall time in the recorded run
    curation     rows left after each curation stage, and what the selected rows hold
    training     the SFT run: examples, blocks, steps, loss, speed
    verifier     the value head's AUROCs (its own held-out split and the strategy study's samples)
    strategies   the strategy study's table: a row per setting (`strategies` picks and orders)
    optimal      compute-optimal vs weighted best-of-N (`kind`: oracle or predicted)
    ibpo         the IBPO evaluation's table
    ibpo_rounds  each budget's rounds: responses sampled, right, chosen by the selection program
"""

from __future__ import annotations

from thinkscale.eval.intervals import percent
from thinkscale.eval.report import points_by_benchmark, rejection_notes, summary_cells
from thinkscale.eval.strategies.report import label_table, optimal_table, verifier_line
from thinkscale.ibpo.evaluate import table as ibpo_table


def part(rec: dict, key: str, what: str) -> dict:
    if key not in rec:
        raise ValueError(f"record {rec['name']}: no {key} (record it with --{what})")
    return rec[key]


def stage_seconds(rec: dict) -> dict[str, float]:
    """Each recorded `make` target's wall time (empty for a record without --stage-times)."""
    return {s["target"]: s["seconds"] for s in rec.get("stages", [])}


def summary(rec: dict, spec: dict) -> str:
    runs = (
        [r for r in rec["runs"] if r["benchmark"] == spec["benchmark"]]
        if "benchmark" in spec
        else rec["runs"][:1]
    )
    if len(runs) != 1:
        raise ValueError(f"record {rec['name']}: no run on benchmark {spec.get('benchmark')!r} "
                         f"(it has {[r['benchmark'] for r in rec['runs']]})")  # fmt: skip
    methods = runs[0]["methods"]
    labels = spec.get("labels") or list(methods)
    missing = [label for label in labels if label not in methods]
    if missing:
        raise ValueError(f"record {rec['name']}: no method {missing} (it has {list(methods)})")
    names = spec.get("names", {})
    compact = spec.get("columns") == "compact"
    head = [
        "method",
        "n",
        "points: budget → accuracy [95%] (mean thinking tokens)",
        "Control",
        "Scaling (points/doubling)",
    ]
    keys = ["n", "points", "control", "scaling"] + ([] if compact else ["gain", "performance", "format"])
    if not compact:
        head += ["gain", "Performance", "format"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        cells = summary_cells(methods[label])
        lines.append(f"| {names.get(label, label)} | " + " | ".join(cells[k] for k in keys) + " |")
    if not compact:
        lines += ["", *rejection_notes({label: methods[label] for label in labels})]
    return "\n".join(lines).rstrip()


def benchmarks(rec: dict, spec: dict) -> str:
    heads = [r["benchmark"] for r in rec["runs"]]
    rows = points_by_benchmark([(r["benchmark"], r["methods"]) for r in rec["runs"]])
    labels = spec.get("labels") or list(dict.fromkeys(label for label, _ in rows))
    names = spec.get("names", {})
    lines = ["| method | point | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(heads)]
    for label in labels:
        for (row_label, point), cells in rows.items():
            if row_label != label:
                continue
            text = [f"{percent(c['accuracy'], c['ci95'])} ({c['mean_thinking_tokens']:.0f})" if (c := cells.get(h)) else "—"
                    for h in heads]  # fmt: skip
            lines.append(f"| {names.get(label, label)} | {point} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60):02d} min"


def stages(rec: dict, spec: dict) -> str:
    rows = part(rec, "stages", "stage-times")
    lines = ["| `make` target | wall time |", "|---|---|"]
    lines += [f"| `make {s['target']}` | {minutes(s['seconds'])} |" for s in rows]
    lines.append(f"| all | {minutes(sum(s['seconds'] for s in rows))} |")
    return "\n".join(lines)


def curation(rec: dict, spec: dict) -> str:
    c = part(rec, "curation", "data")
    counts, order = c["counts"], c["stage_order"]
    solved = "; ".join(f"{model} solves {n}" for model, n in c.get("solved_by", {}).items())
    lines = ["| stage | rows | dropped |", "|---|---|---|"]
    for i, stage in enumerate(order):
        dropped = "—" if i == 0 else f"{counts[order[i - 1]] - counts[stage]}"
        note = f" ({solved})" if stage == "difficulty" and solved else ""
        lines.append(f"| {stage}{note} | {counts[stage]} | {dropped} |")
    levels = " / ".join(str(v) for v in c["levels"].values())
    domains = c["domains"].values()
    trace, total = c["trace_tokens"], c["total_tokens"]
    lines += ["", f"The {counts[order[-1]]} rows: {levels} at levels {min(c['levels'])}-{max(c['levels'])}, "
              f"{min(domains)}-{max(domains)} per domain ({len(c['domains'])} domains); traces {trace['min']}-{trace['max']} "
              f"tokens (mean {trace['mean']:.0f}); full examples {total['min']}-{total['max']} tokens ({total['total']:,} in all); "
              f"{c['verified_traces']} traces verify their work and {c['traces_with_caught_slip']} catch a slip; "
              f"{c['test_rows']} held-out test problems."]  # fmt: skip
    return "\n".join(lines)


def training(rec: dict, spec: dict) -> str:
    t = part(rec, "training", "train")
    first, last = t["log"][0], t["log"][-1]
    speeds = [r["tokens_per_s"] for r in t["log"] if r.get("tokens_per_s")]
    wall = stage_seconds(rec).get("train")
    lines = ["| examples | packed blocks (fill) | steps (epochs) | learning rate | loss, first → last logged step | tokens/s | wall |",
             "|---|---|---|---|---|---|---|",
             f"| {t['examples']} | {t['blocks']} of ≤ {t['block_size']} tokens ({t['block_fill']:.0%}) | "
             f"{t['total_steps']} of {t['global_batch_size']} blocks ({t['epochs']:g}) | {t['learning_rate']:g} {t['scheduler']} | "
             f"{first['loss']:.2f} (step {first['step']}) → {last['loss']:.3f} (step {last['step']}) | "
             f"{min(speeds):.0f}-{max(speeds):.0f} | {minutes(wall) if wall else '—'} |"]  # fmt: skip
    return "\n".join(lines)


def verifier(rec: dict, spec: dict) -> str:
    v = part(rec, "verifier", "verifier")
    cv = v["cv_outcome_auroc"]  # {L2: CV AUROC} over the candidates: the chosen one's
    cv = (
        next((a for l2, a in cv.items() if float(l2) == float(v["l2"])), None) if isinstance(cv, dict) else cv
    )
    text = (f"Value head: {v['train_paths'] + v['heldout_paths']} sampled solutions to {v['questions']} training "
            f"questions; L2 {v['l2']:g} chosen by 5-fold cross-validation (CV outcome AUROC {cv:.2f}); on held-out "
            f"training questions outcome AUROC {v['outcome_auroc']:.3f} ({v['heldout_paths']} solutions, "
            f"{v['heldout_correct']} right), step AUROC {v['step_auroc']:.3f}.")  # fmt: skip
    if "strategies" in rec:
        text += " " + verifier_line(rec["strategies"]["verifier"]) + "."
    return text


def strategies(rec: dict, spec: dict) -> str:
    rows = part(rec, "strategies", "strategies")["labels"]
    if spec.get("strategies"):
        order = {s: i for i, s in enumerate(spec["strategies"])}
        rows = sorted((r for r in rows if r["strategy"] in order), key=lambda r: order[r["strategy"]])
    return label_table(rows)


def optimal(rec: dict, spec: dict) -> str:
    kinds = part(rec, "strategies", "strategies")["compute_optimal"]["kinds"]
    kind = spec.get("kind", "oracle")
    if kind not in kinds:
        raise ValueError(f"record {rec['name']}: no compute-optimal {kind!r} (it has {list(kinds)})")
    return optimal_table(kinds[kind])


def ibpo(rec: dict, spec: dict) -> str:
    i = part(rec, "ibpo", "ibpo")
    return ibpo_table(i["models"], i["majority"])


def ibpo_rounds(rec: dict, spec: dict) -> str:
    rows = part(rec, "ibpo_rounds", "ibpo-rounds")
    lines = ["| q | round | responses sampled | extended | right | chosen | chosen extended | fine-tuned |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r['q']:g} | {r['round']} | {r['responses']} | {r['extended']} | {r['right']} | {r['chosen']} | "
              f"{r['chosen_extended']} | {'yes' if r['trained'] else 'no'} |" for r in rows]  # fmt: skip
    return "\n".join(lines)


VIEWS = {"summary": summary, "benchmarks": benchmarks, "stages": stages, "curation": curation, "training": training,
         "verifier": verifier, "strategies": strategies, "optimal": optimal, "ibpo": ibpo,
         "ibpo_rounds": ibpo_rounds}  # fmt: skip
