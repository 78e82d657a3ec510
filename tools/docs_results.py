"""Results in the docs come from runs, not from hands: record a run's figures, render them into the
Markdown, check that nothing drifted.

    # a fresh clone's `make all` (one target at a time, `target<TAB>seconds` per line in stage_times.tsv)
    python tools/docs_results.py record smollm2-135m-all CLONE/outputs/eval/smollm2-135m-s1_builtin \\
        --data CLONE/outputs/data/smollm2-135m-builtin --train CLONE/outputs/sft/smollm2-135m-s1 \\
        --verifier CLONE/outputs/verifier/smollm2-135m-s1 --strategies CLONE/outputs/strategies/smollm2-135m-s1_builtin \\
        --ibpo CLONE/outputs/ibpo/smollm2-135m-eval --stage-times CLONE/stage_times.tsv --command "make all" \\
        --plot docs/img/scaling-smollm2-135m.png
    python tools/docs_results.py render      # rewrite every generated block in README.md and docs/*.md
    python tools/docs_results.py check       # exit 1 naming the blocks that differ (a test runs this)
    python tools/docs_results.py verify-curation smollm2-135m-all outputs/data/smollm2-135m-builtin  # CI, after make data

`record` keeps a run's figures in `docs/results/<name>.json`, small enough to track: the s1 study
runs' metrics (every method's points with their intervals, s1's metrics), and what the other stages'
folders give (PARTS: the curation report's counts, the trainer's data summary and loss log, the
verifier's AUROCs, the strategy study's and the IBPO evaluation's metrics), with the command, each
`make` target's wall time, the commit and the date; `--plot` draws the study's plot from the same
figures. The commit is the run's own, from the provenance its stages write (a folder without one
names it: `--commit`); folders from different commits are refused together, and a run made by
other code than this checkout's HEAD, or by a checkout with uncommitted changes, is said so on the
terminal and in the record. `verify-curation` compares a fresh `make data` with the record's counts.

A generated block is Markdown between two comments; the opening one says what to draw:

    <!-- results {"record": "qwen2.5-0.5b-study", "view": "benchmarks"} -->
    ... (written by `render`) ...
    <!-- /results -->

Views (tools/docs_views.py): summary, benchmarks, stages, curation, training, verifier, strategies,
optimal, ibpo, and `provenance` (one line: command, wall time, commit, date). Every view ends with
its provenance line; `"stage": "data"` names that `make` target of the recorded run in it.
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
from thinkscale.eval.report import benchmarks_plot, scaling_plot  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
from docs_views import VIEWS, minutes, part, stage_seconds  # noqa: E402

RESULTS = ROOT / "docs" / "results"
BLOCK = re.compile(r"(<!-- results (\{.*?\}) -->\n)(.*?)(<!-- /results -->)", re.S)


def record(name: str, runs: list[Path], command: str, wall_seconds: float | None, results: Path = RESULTS,
           commit: str | None = None, plot: str | Path | None = None, plot_title: str | None = None,
           parts: dict[str, Path] | None = None, stage_times: Path | None = None) -> dict:  # fmt: skip
    """docs/results/<name>.json from run folders: s1 study runs (each holding metrics.json and
    config.yaml), and with `parts` the other stages' folders of the same run (data, train, verifier,
    strategies, ibpo: what PARTS reads from each); `stage_times`: a TSV of `make` target and seconds.
    A folder without provenance (made before runs recorded it) needs `commit`: the checkout it sits in
    may have moved on since. `plot`: also draw the study runs' plot there."""
    entries, origins = [], []
    for run in runs:
        metrics = _json(run / "metrics.json", "record takes finished run folders")
        if "methods" not in metrics:
            raise ValueError(f"{run / 'metrics.json'}: not an s1 study's metrics (no 'methods')")
        origins.append(_origin(run / "metrics.json", metrics, commit))
        config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
        entries.append({"run": run.name, "benchmark": str(config.get("benchmark", run.name)), "model": config.get("model"),
                        "title": metrics.get("title"), "source": metrics.get("source"), "methods": metrics["methods"]})  # fmt: skip
    extra = {}
    for key, folder in (parts or {}).items():
        extra[key], path, prov = PARTS[key](Path(folder))
        origins.append(_origin(path, {"provenance": prov}, commit))
    if not origins:
        raise ValueError("nothing to record: name study runs or other stages' folders")
    if len({o[:2] for o in origins}) > 1:
        raise ValueError(
            f"the runs come from different code ({sorted({o[0][:12] for o in origins})}): record them apart"
        )
    commit, dirty = origins[0][:2]
    dates = sorted(o[2] for o in origins if o[2])
    head, _ = git_commit(ROOT)
    if dirty:
        print(f"note: the runs were made by a checkout of {commit[:12]} with uncommitted changes")
    if head and head != commit:
        print(f"note: the runs come from commit {commit[:12]}; this checkout is at {head[:12]}")
    out = {"name": name, "command": command, "wall_seconds": wall_seconds, "commit": commit, "dirty": dirty,
           "date": dates[-1] if dates else _date_of(commit), "runs": entries}  # fmt: skip
    if stage_times:
        out["stages"] = _stage_times(Path(stage_times))
        if wall_seconds is None:
            out["wall_seconds"] = sum(s["seconds"] for s in out["stages"])
    out.update(extra)
    atomic_write_json(results / f"{name}.json", out)
    if plot:
        draw(out, Path(plot), plot_title)
    return out


def _json(path: Path, hint: str):
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({hint})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from None


def _origin(path: Path, obj: dict, commit: str | None) -> tuple[str, bool, str | None]:
    prov = obj.get("provenance") or {}
    if prov.get("commit"):
        return prov["commit"], prov.get("dirty", False), prov.get("date")
    if commit:
        return _full(commit), False, None
    raise ValueError(f"{path}: no provenance (an older run): name the commit that made it with --commit")


def _stage_times(path: Path) -> list[dict]:
    """`target<TAB>seconds` lines, in the order the targets ran."""
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[1].strip().replace(".", "", 1).isdigit():
            raise ValueError(f"{path}:{n}: expected `target<TAB>seconds`, got {line!r}")
        rows.append({"target": fields[0].strip(), "seconds": float(fields[1])})
    return rows


def _data(folder: Path) -> tuple[dict, Path, dict]:
    path = folder / "report.json"
    report = _json(path, "a finished `thinkscale data` run folder")
    keep = ("counts", "stage_order", "levels", "domains", "sources", "trace_tokens", "total_tokens", "verified_traces",
            "traces_with_caught_slip", "solved_by", "test_rows")  # fmt: skip
    return {k: report[k] for k in keep if k in report}, path, report.get("provenance", {})


def _train(folder: Path) -> tuple[dict, Path, dict]:
    path = folder / "data_info.json"
    info = _json(path, "a `thinkscale train` run folder")
    config = yaml.safe_load((folder / "config.yaml").read_text())
    log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines() if line.strip()]
    log = [r for r in log if "loss" in r]
    if not log:
        raise ValueError(f"{folder / 'train_log.jsonl'}: no logged training step")
    out = {k: info[k] for k in ("examples", "blocks", "block_fill", "tokens", "total_steps", "processes")}
    out.update(block_size=config["block_size"], global_batch_size=config["global_batch_size"],
               epochs=config["num_train_epochs"], learning_rate=config["learning_rate"],
               scheduler=config["lr_scheduler_type"],
               log=[{k: r.get(k) for k in ("step", "loss", "tokens_per_s")} for r in log])  # fmt: skip
    return out, path, info.get("provenance", {})


def _verifier(folder: Path) -> tuple[dict, Path, dict]:
    path = folder / "verifier.json"
    info = _json(path, "a `thinkscale verifier` run folder")
    return {k: v for k, v in info.items() if k != "provenance"}, path, info.get("provenance", {})


def _metrics_part(keys: tuple[str, ...]):
    def read(folder: Path) -> tuple[dict, Path, dict]:
        path = folder / "metrics.json"
        metrics = _json(path, "a finished run folder")
        missing = [k for k in keys if k not in metrics]
        if missing:
            raise ValueError(f"{path}: no {missing} (not the stage this flag takes)")
        return {k: metrics[k] for k in keys}, path, metrics.get("provenance", {})

    return read


def _ibpo_rounds(folder: Path) -> tuple[list, Path, dict]:
    """Each budget's rounds (q<q>/round-<r>/state.json): responses, right, extended, chosen."""
    states = sorted(
        folder.glob("q*/round-*/state.json"), key=lambda p: (float(p.parts[-3][1:]), int(p.parts[-2][6:]))
    )
    if not states:
        raise FileNotFoundError(
            f"{folder}: no q<q>/round-<r>/state.json (a finished `thinkscale ibpo` run folder)"
        )
    rows, provs = [], []
    for path in states:
        state = _json(path, "an IBPO round")
        rows.append(
            {"q": state["q"], "round": state["round"], "trained": state["trained"], **state["selection"]}
        )
        provs.append(state.get("provenance") or {})
    if (
        len({(p.get("commit"), p.get("dirty")) for p in provs}) > 1
    ):  # a rerun by other code finished some budgets
        raise ValueError(f"{folder}: its rounds come from different code: record them apart")
    return rows, states[0], max(provs, key=lambda p: p.get("date") or "")


# What each stage's folder gives a record: (figures, the file read, its provenance).
PARTS = {"curation": _data, "training": _train, "verifier": _verifier,
         "strategies": _metrics_part(("title", "labels", "verifier", "compute_optimal")),
         "ibpo": _metrics_part(("models", "majority", "questions")), "ibpo_rounds": _ibpo_rounds}  # fmt: skip


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


def provenance_line(rec: dict, stage: str | None = None) -> str:
    """Where a block's figures come from: the command (or one `make` target of it), its wall time, the
    commit and date of the run, and the record."""
    seconds = stage_seconds(rec)
    if stage:
        if stage not in seconds:
            raise ValueError(f"record {rec['name']}: no stage {stage!r} (it has {list(seconds)})")
        what = f"`make {stage}` ({minutes(seconds[stage])}) in a fresh clone's `{rec['command']}`"
        wall = f"; the whole run {minutes(rec['wall_seconds'])} on 2 cores" if rec.get("wall_seconds") else ""
    else:
        what = f"`{rec['command']}`"
        wall = f"; {minutes(rec['wall_seconds'])} on 2 cores" if rec.get("wall_seconds") else ""
    dirty = " with uncommitted changes" if rec.get("dirty") else ""
    return (f"*From {what} at commit {rec['commit'][:7]}{dirty} ({rec['date']}{wall}); written by "
            f"`tools/docs_results.py` from `docs/results/{rec['name']}.json`.*")  # fmt: skip


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
    return VIEWS[view](rec, spec) + "\n\n" + provenance_line(rec, spec.get("stage")) + "\n"


def render_text(text: str, where: str, results: Path = RESULTS) -> str:
    def one(m: re.Match) -> str:
        try:
            spec = json.loads(m.group(2))
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: a results block's spec is not JSON ({e}): {m.group(2)}") from None
        return m.group(1) + render_block(spec, results) + m.group(4)

    return BLOCK.sub(one, text)


def verify_curation(name: str, data: Path, results: Path = RESULTS) -> list[str]:
    """The fields where a data run's figures differ from the record's curation (empty: equal)."""
    recorded = part(_json(results / f"{name}.json", "a record"), "curation", "data")
    fresh, _, _ = _data(data)
    return [f"{k}: recorded {recorded.get(k)!r}, this run {fresh.get(k)!r}"
            for k in sorted(set(recorded) | set(fresh)) if recorded.get(k) != fresh.get(k)]  # fmt: skip


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="keep run folders' figures in docs/results/<name>.json")
    rec.add_argument("name")
    rec.add_argument("runs", nargs="*", type=Path, help="s1 study run folders (outputs/eval/<name>)")
    rec.add_argument(
        "--command", required=True, help="the command that made the runs, as a reader would type it"
    )
    rec.add_argument("--wall-seconds", type=float, help="its wall time")
    rec.add_argument("--commit", help="the commit that made runs without provenance in their metrics.json")
    rec.add_argument("--plot", help="also draw the runs' plot into this file (docs/img/...png)")
    rec.add_argument("--plot-title", help="the plot's title (default: the runs' own)")
    for flag, key, what in (("--data", "curation", "outputs/data/<name>"), ("--train", "training", "outputs/sft/<name>"),
                            ("--verifier", "verifier", "outputs/verifier/<name>"),
                            ("--strategies", "strategies", "outputs/strategies/<name>"),
                            ("--ibpo", "ibpo", "outputs/ibpo/<name> (the evaluation)"),
                            ("--ibpo-rounds", "ibpo_rounds", "outputs/ibpo/<name> (the rounds)")):  # fmt: skip
        rec.add_argument(flag, dest=key, type=Path, help=f"the same run's {what} folder")
    rec.add_argument("--stage-times", type=Path, help="a TSV of each `make` target and its seconds, in order")
    ver = sub.add_parser("verify-curation", help="exit 1 unless a data run's counts equal the record's")
    ver.add_argument("name", help="the record (docs/results/<name>.json)")
    ver.add_argument("data", type=Path, help="a fresh `make data` run folder (outputs/data/<name>)")
    sub.add_parser("render", help="rewrite the generated blocks of README.md and docs/*.md")
    sub.add_parser("check", help="exit 1 when a generated block differs from what its record gives")
    args = parser.parse_args(argv)
    if args.cmd == "record":
        parts = {k: getattr(args, k) for k in PARTS if getattr(args, k) is not None}
        out = record(args.name, args.runs, args.command, args.wall_seconds, commit=args.commit, plot=args.plot,
                     plot_title=args.plot_title, parts=parts, stage_times=args.stage_times)  # fmt: skip
        print(f"written: docs/results/{out['name']}.json ({len(out['runs'])} study runs"
              + "".join(f", {k}" for k in parts) + f"; commit {out['commit'][:12]})")  # fmt: skip
        return 0
    if args.cmd == "verify-curation":
        diffs = verify_curation(args.name, args.data)
        for d in diffs:
            print(d)
        print(
            f"{args.data}: {'differs from' if diffs else 'equals'} the curation of docs/results/{args.name}.json"
        )
        return 1 if diffs else 0
    stale = []
    for doc in documents():
        text = doc.read_text()
        new = render_text(text, str(doc.relative_to(ROOT)))
        if new != text:
            stale.append(str(doc.relative_to(ROOT)))
            if args.cmd == "render":
                atomic_write_text(doc, new)
    verb = (
        "rewritten"
        if args.cmd == "render"
        else "differ from their records (python tools/docs_results.py render)"
    )
    print(f"{', '.join(stale)}: {verb}" if stale else "every generated block is what its record gives")
    return 1 if stale and args.cmd == "check" else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
