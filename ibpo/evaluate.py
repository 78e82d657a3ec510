"""Evaluate budget-aware training: accuracy vs generated tokens, and who thinks long on what.

    thinkscale ibpo-eval --config recipes/smollm2-135m/ibpo_eval.yaml

Each model in `models` ("label=path") answers every question once, greedily (thinking up to
`max_thinking_tokens`, no forcing: the model decides how long to think). Reported per model:
accuracy, mean generated tokens, and the share of extended responses (more than one SV trial) by
difficulty level. Majority voting at matched compute comes from the strategy study's records
(`majority_from`): maj@k on the same question ids, with its measured tokens. Questions: the ids of
that study (validation and test) when given, else the benchmark. Writes outputs/ibpo/<name>/:
samples.jsonl (resumable), metrics.json, summary.md, ibpo.png, config.yaml.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.common.config import parse_config, run_cli, save_config
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import JsonlAppender, atomic_write_json, atomic_write_text, read_jsonl
from thinkscale.common.paths import stage_dir
from thinkscale.common.plots import pyplot, save_figure
from thinkscale.common.provenance import provenance
from thinkscale.common.restart import RestartArgs, claimed_run
from thinkscale.common.trials import is_extended
from thinkscale.eval.benchmarks import BenchmarkArgs, load_benchmark
from thinkscale.eval.intervals import percent, wilson
from thinkscale.eval.strategies.optimal import accuracy_and_tokens
from thinkscale.eval.view import write_report
from thinkscale.grading.grade import grade
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.engine_args import build_engine
from thinkscale.inference.forcing.budget import MAX_ANSWER_TOKENS, BudgetRequest
from thinkscale.inference.models.load import ModelArgs


@dataclass
class IBPOEvalArgs:
    _argument_group_name = "ibpo evaluation"  # its flags' heading in --help
    name: str = field(default="ibpo-eval", metadata={"help": "Folder under outputs/ibpo/."})
    output_root: str | None = field(default=None, metadata={"help": "Outputs root (default ./outputs)."})
    models: list[str] = field(default_factory=list, metadata={"help": "label=path, one per model."})
    majority_from: str | None = field(
        default=None, metadata={"help": "records.jsonl of a strategy study: maj@k and its question ids."}
    )
    max_thinking_tokens: int = field(default=400, metadata={"help": "Thinking cap (no forcing below it)."})
    max_answer_tokens: int = field(
        default=MAX_ANSWER_TOKENS,
        metadata={"help": "Most tokens in the answer (s1's recipes: 32768, no cap short of the context)."},
    )
    batch_size: int = field(default=48, metadata={"help": "Requests decoded together."})

    def __post_init__(self) -> None:
        bad = [m for m in self.models if "=" not in m]
        if not self.models or bad:
            raise ConfigError(f"--models must be label=path entries, got {self.models}")


def _majority(path: str | None) -> tuple[set | None, dict]:
    if not path:
        return None, {}
    if not Path(path).exists():
        raise FileNotFoundError(
            f"--majority-from {path} not found: run the strategy study first (make strategies)"
        )
    records = [r for r in read_jsonl(path) if r["strategy"] == "majority"]
    ids = {r["id"] for r in records}
    by = defaultdict(list)
    for r in records:
        by[r["label"]].append(r)
    points = {}
    for label, rows in by.items():
        accuracy, tokens = accuracy_and_tokens(rows)
        points[label] = {"accuracy": accuracy, "generated_tokens": tokens, "n": len(rows),
                         "ci95": list(wilson(sum(r["correct"] for r in rows), len(rows)))}  # fmt: skip
    return ids, points


def model_metrics(rows: list[dict]) -> dict:
    levels = defaultdict(list)
    for r in rows:
        levels[r["level"]].append(r["extended"])
    n = len(rows)
    right = sum(r["correct"] for r in rows)
    return {"n": n, "accuracy": right / n, "ci95": list(wilson(right, n)),
            "generated_tokens": sum(r["generated_tokens"] for r in rows) / n,
            "extended_share": sum(r["extended"] for r in rows) / n,
            "extended_by_level": {str(k): sum(v) / len(v) for k, v in sorted(levels.items(), key=lambda kv: str(kv[0]))},
            "accuracy_by_level": {str(k): sum(r["correct"] for r in rows if r["level"] == k) / len(v)
                                  for k, v in sorted(levels.items(), key=lambda kv: str(kv[0]))}}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:

    base, fmt, bench, args, backend, again = parse_config(
        [ModelArgs, FormatArgs, BenchmarkArgs, IBPOEvalArgs, BackendArgs, RestartArgs], argv, doc=__doc__
    )
    ids, majority = _majority(args.majority_from)
    items = [it for it in load_benchmark(bench, args.output_root) if ids is None or it.id in ids]
    out = stage_dir("ibpo", args.name, args.output_root)
    with claimed_run(out, "the IBPO evaluation", again.restart):
        out.mkdir(parents=True, exist_ok=True)
        save_config(out / "config.yaml", base, fmt, bench, args, backend)
        path = out / "samples.jsonl"
        rows = read_jsonl(path, allow_torn_tail=True) if path.exists() else []
        done = {(r["label"], r["id"]) for r in rows}
        with JsonlAppender(path) as sink:
            for entry in args.models:
                label, model = entry.split("=", 1)
                todo = [it for it in items if (label, it.id) not in done]
                if not todo:
                    continue
                engine, tok = build_engine(base.for_model(model), fmt, backend, args.batch_size)
                reqs = [BudgetRequest(render_prompt(tok, fmt, it.question), max_thinking_tokens=args.max_thinking_tokens,
                                      max_answer_tokens=args.max_answer_tokens) for it in todo]  # fmt: skip

                def write(i: int, r, label=label, todo=todo) -> None:
                    it = todo[i]
                    g = grade(r.answer or "", it.gold, it.choices)
                    row = {"label": label, "id": it.id, "level": it.level, "correct": g.correct, "extracted": g.extracted,
                           "generated_tokens": r.generated_tokens, "thinking_tokens": r.thinking_tokens,
                           "extended": is_extended(r.thinking), "thinking": r.thinking, "answer": r.answer,
                           "question": it.question, "gold": it.gold, "num_forced": r.num_forced, "hit_max": r.hit_max,
                           "think_end_reason": r.think_end_reason, "segments": r.segments}  # fmt: skip
                    sink.write(row)
                    rows.append(row)

                engine.generate(reqs, on_result=write)
                engine.close()
        labels = [m.split("=", 1)[0] for m in args.models]
        metrics = {label: model_metrics([r for r in rows if r["label"] == label]) for label in labels}
        atomic_write_json(
            out / "metrics.json",
            {"models": metrics, "majority": majority, "questions": len(items), "provenance": provenance()},
        )
        text = summary(metrics, majority, len(items))
        atomic_write_text(out / "summary.md", text)
        plot(metrics, majority, out / "ibpo.png")
        write_report(out)  # report.html: each model's traces (thinkscale view)
        print(text)
        return 0


def summary(metrics: dict, majority: dict, n: int) -> str:
    return f"# Budget-aware training on {n} questions\n\n" + table(metrics, majority) + "\n"


def table(metrics: dict, majority: dict) -> str:
    """Each model's accuracy [95%], generated tokens and extended share (per level), then the strategy
    study's majority voting on the same questions (summary.md, and the docs: `tools/docs_results.py`)."""
    levels = sorted({lvl for m in metrics.values() for lvl in m["extended_by_level"]})
    head = (
        "| model | accuracy [95% Wilson] | generated tok/q | extended | "
        + " | ".join(f"extended L{lvl}" for lvl in levels)
        + " |"
    )
    lines = [head, "|" + "---|" * (4 + len(levels))]
    for label, m in metrics.items():
        lines.append(f"| {label} | {percent(m['accuracy'], m.get('ci95'), unit='%')} | {m['generated_tokens']:.0f} | {m['extended_share']:.0%} | "
                     + " | ".join(f"{m['extended_by_level'].get(lvl, 0):.0%}" for lvl in levels) + " |")  # fmt: skip
    for label, p in sorted(majority.items(), key=lambda kv: kv[1]["generated_tokens"]):
        lines.append(
            f"| {label} (strategy study) | {percent(p['accuracy'], p.get('ci95'), unit='%')} | {p['generated_tokens']:.0f} | — |"
            + " — |" * len(levels)
        )
    return "\n".join(lines)


def plot(metrics: dict, majority: dict, path: Path) -> None:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5))
    if majority:
        pts = sorted(majority.values(), key=lambda p: p["generated_tokens"])
        ax.plot(
            [p["generated_tokens"] for p in pts],
            [100 * p["accuracy"] for p in pts],
            "k--o",
            label="majority voting",
        )
    # Shrinking markers of different shapes: models that land on the same point stay visible.
    for k, (label, m) in enumerate(metrics.items()):
        ci = m.get("ci95") or [m["accuracy"]] * 2
        ax.errorbar([m["generated_tokens"]], [100 * m["accuracy"]],
                    yerr=[[max(0.0, 100 * (m["accuracy"] - ci[0]))], [max(0.0, 100 * (ci[1] - m["accuracy"]))]], fmt="sDo^v<>"[k % 7],
                    markersize=max(4, 13 - 2.5 * k), capsize=3, label=label)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set(
        xlabel="generated tokens per question (log scale)",
        ylabel="accuracy (%), 95% Wilson bars",
        title="accuracy vs compute",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    width = 0.8 / max(1, len(metrics))
    for k, (label, m) in enumerate(metrics.items()):
        lv = list(m["extended_by_level"])
        bx.bar(
            [i + k * width for i in range(len(lv))],
            [100 * m["extended_by_level"][x] for x in lv],
            width,
            label=label,
        )
        bx.set_xticks([i + 0.4 - width / 2 for i in range(len(lv))], [f"level {x}" for x in lv])
    bx.set(ylabel="extended responses (%)", title="who thinks long on what")
    bx.legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
