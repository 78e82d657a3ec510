"""Results in the docs come from runs, not from hands: record a run's figures, render them into the
Markdown, check that nothing drifted.

    python tools/docs_results.py record qwen2.5-0.5b-study outputs/eval/qwen2.5-0.5b_gsm8k \\
        outputs/eval/qwen2.5-0.5b_math500 --command "make eval RECIPES=recipes/qwen2.5-0.5b" --wall-seconds 3612
    python tools/docs_results.py render      # rewrite every generated block in README.md and docs/*.md
    python tools/docs_results.py check       # exit 1 naming the blocks that differ (a test runs this)

`record` keeps a run's metrics (metrics.json: every method's points with their intervals, s1's
metrics) with the command, wall time, commit and date in `docs/results/<name>.json`, small enough to
track, and with `--plot docs/img/x.png` draws the runs' plot from the same figures. The commit is the
run's own, from its metrics.json provenance (an older run without one names it: `--commit`); a run
made by other code than this checkout's HEAD, or by a checkout with uncommitted changes, is said so
on the terminal and in the record.

A generated block is Markdown between two comments; the opening one says what to draw:

    <!-- results {"record": "qwen2.5-0.5b-study", "view": "benchmarks"} -->
    ... (written by `render`) ...
    <!-- /results -->

Views: `summary` (one run: summary.md's table; `labels` picks and orders rows, `names` renames them,
`columns: "compact"` keeps method / n / points / Control / Scaling), `benchmarks` (several runs: a row
per method and point, a column per benchmark, accuracy [95%] (mean thinking tokens)), `provenance`
(one line: command, wall time, commit, date). Every table ends with its provenance line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without an install, as `python -m thinkscale` is

from thinkscale.common.io import atomic_write_json, atomic_write_text  # noqa: E402
from thinkscale.common.provenance import git_commit  # noqa: E402
from thinkscale.eval.intervals import percent  # noqa: E402
from thinkscale.eval.report import benchmarks_plot, points_by_benchmark, scaling_plot, summary_cells  # noqa: E402

RESULTS = ROOT / "docs" / "results"
BLOCK = re.compile(r"(<!-- results (\{.*?\}) -->\n)(.*?)(<!-- /results -->)", re.S)


def record(name: str, runs: list[Path], command: str, wall_seconds: float | None, results: Path = RESULTS,
           commit: str | None = None, plot: str | Path | None = None, plot_title: str | None = None) -> dict:  # fmt: skip
    """docs/results/<name>.json from run folders (each holding metrics.json and config.yaml). A run
    without provenance in its metrics.json (made before it was recorded) needs `commit`: the
    checkout it sits in may have moved on since. `plot`: also draw the runs' plot there."""
    entries, origins = [], set()
    for run in runs:
        path = run / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (record takes finished run folders)")
        metrics = json.loads(path.read_text())
        if "methods" not in metrics:
            raise ValueError(f"{path}: not an s1 study's metrics (no 'methods')")
        prov = metrics.get("provenance") or {}
        if prov.get("commit"):
            origins.add((prov["commit"], prov.get("dirty", False), prov.get("date")))
        elif commit:
            origins.add((_full(commit), False, None))
        else:
            raise ValueError(f"{path}: no provenance (an older run): name the commit that made it with --commit")
        config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
        entries.append({"run": run.name, "benchmark": str(config.get("benchmark", run.name)), "model": config.get("model"),
                        "title": metrics.get("title"), "source": metrics.get("source"), "methods": metrics["methods"]})  # fmt: skip
    if len({o[:2] for o in origins}) > 1:
        raise ValueError(f"the runs come from different code ({sorted(o[0][:12] for o in origins)}): record them apart")
    commit, dirty, date = origins.pop()
    head, _ = git_commit(ROOT)
    if dirty:
        print(f"note: the runs were made by a checkout of {commit[:12]} with uncommitted changes")
    if head and head != commit:
        print(f"note: the runs come from commit {commit[:12]}; this checkout is at {head[:12]}")
    out = {"name": name, "command": command, "wall_seconds": wall_seconds, "commit": commit, "dirty": dirty,
           "date": date or _date_of(commit), "runs": entries}  # fmt: skip
    atomic_write_json(results / f"{name}.json", out)
    if plot:
        draw(out, Path(plot), plot_title)
    return out


def draw(rec: dict, path: Path, title: str | None = None) -> None:
    """The record's plot: the study's scaling.png, a panel per benchmark when it has several."""
    runs = rec["runs"]
    if len(runs) == 1:
        scaling_plot(runs[0]["methods"], path, title or runs[0]["title"])
    else:
        benchmarks_plot([(r["benchmark"], r["methods"]) for r in runs], path, title or str(runs[0]["model"]))


def _git(*args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()


def _full(commit: str) -> str:
    full = _git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    if not full:
        raise ValueError(f"--commit {commit}: not a commit of this repository")
    return full


def _date_of(commit: str) -> str | None:
    return _git("show", "-s", "--format=%cs", commit) or None


def provenance_line(rec: dict) -> str:
    wall = f"; {rec['wall_seconds'] / 60:.0f} min on 2 cores" if rec.get("wall_seconds") else ""
    dirty = " with uncommitted changes" if rec.get("dirty") else ""
    return (f"*From `{rec['command']}` at commit {rec['commit'][:7]}{dirty} ({rec['date']}{wall}); written by "
            f"`tools/docs_results.py` from `docs/results/{rec['name']}.json`.*")  # fmt: skip


def _summary(rec: dict, spec: dict) -> str:
    runs = [r for r in rec["runs"] if r["benchmark"] == spec["benchmark"]] if "benchmark" in spec else rec["runs"][:1]
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
    head = ["method", "n", "points: budget → accuracy [95%] (mean thinking tokens)", "Control", "Scaling (points/doubling)"]
    keys = ["n", "points", "control", "scaling"] + ([] if compact else ["gain", "performance", "format"])
    if not compact:
        head += ["gain", "Performance", "format"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        cells = summary_cells(methods[label])
        lines.append(f"| {names.get(label, label)} | " + " | ".join(cells[k] for k in keys) + " |")
    return "\n".join(lines)


def _benchmarks(rec: dict, spec: dict) -> str:
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


VIEWS = {"summary": _summary, "benchmarks": _benchmarks}


def render_block(spec: dict, results: Path = RESULTS) -> str:
    path = results / f"{spec.get('record')}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such record (python tools/docs_results.py record ...)")
    rec = json.loads(path.read_text())
    view = spec.get("view", "summary")
    if view == "provenance":
        return provenance_line(rec) + "\n"
    if view not in VIEWS:
        raise ValueError(f"view {view!r}: not one of provenance, {', '.join(VIEWS)}")
    return VIEWS[view](rec, spec) + "\n\n" + provenance_line(rec) + "\n"


def render_text(text: str, where: str, results: Path = RESULTS) -> str:
    def one(m: re.Match) -> str:
        try:
            spec = json.loads(m.group(2))
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: a results block's spec is not JSON ({e}): {m.group(2)}") from None
        return m.group(1) + render_block(spec, results) + m.group(4)

    return BLOCK.sub(one, text)


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="keep run folders' figures in docs/results/<name>.json")
    rec.add_argument("name")
    rec.add_argument("runs", nargs="+", type=Path)
    rec.add_argument("--command", required=True, help="the command that made the runs, as a reader would type it")
    rec.add_argument("--wall-seconds", type=float, help="its wall time")
    rec.add_argument("--commit", help="the commit that made runs without provenance in their metrics.json")
    rec.add_argument("--plot", help="also draw the runs' plot into this file (docs/img/...png)")
    rec.add_argument("--plot-title", help="the plot's title (default: the runs' own)")
    sub.add_parser("render", help="rewrite the generated blocks of README.md and docs/*.md")
    sub.add_parser("check", help="exit 1 when a generated block differs from what its record gives")
    args = parser.parse_args(argv)
    if args.cmd == "record":
        out = record(args.name, args.runs, args.command, args.wall_seconds, commit=args.commit, plot=args.plot,
                     plot_title=args.plot_title)
        print(f"written: docs/results/{out['name']}.json ({len(out['runs'])} runs, commit {out['commit'][:12]})")
        return 0
    stale = []
    for doc in documents():
        text = doc.read_text()
        new = render_text(text, str(doc.relative_to(ROOT)))
        if new != text:
            stale.append(str(doc.relative_to(ROOT)))
            if args.cmd == "render":
                atomic_write_text(doc, new)
    verb = "rewritten" if args.cmd == "render" else "differ from their records (python tools/docs_results.py render)"
    print(f"{', '.join(stale)}: {verb}" if stale else "every generated block is what its record gives")
    return 1 if stale and args.cmd == "check" else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
