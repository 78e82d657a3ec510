"""The strategy study: every way to spend test-time compute on one set of questions and one axis.

    thinkscale strategies --config recipes/smollm2-135m/strategies.yaml [--strategies majority rebase]

The benchmark's questions are split (seeded) into a validation part, on which the compute-optimal
policy is chosen, and a test part, on which everything is reported. Each (strategy, setting) in the
recipe runs on both, `question_chunk` questions at a time; records (answer, correct, compute) are
appended to records.jsonl as chunks finish and the shared samples to samples.jsonl, so an
interrupted run resumes and a re-run with more strategies reuses what is done. Writes
outputs/strategies/<name>/: records.jsonl, samples.jsonl, metrics.json, summary.md, strategies.png,
config.yaml.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import replace

from tqdm import tqdm

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import parse_config, run_cli, save_config
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import JsonlAppender, atomic_write_json, atomic_write_text, read_jsonl
from thinkscale.common.paths import stage_dir
from thinkscale.common.provenance import provenance
from thinkscale.common.restart import RestartArgs, claimed_run
from thinkscale.eval.benchmarks import BenchmarkArgs, Item, load_benchmark
from thinkscale.eval.policy import PolicySettings, load_policy
from thinkscale.eval.strategies import report
from thinkscale.eval.strategies.args import StrategyArgs
from thinkscale.eval.strategies.context import Context
from thinkscale.eval.strategies.table import STRATEGIES, setting_key, settings
from thinkscale.eval.verifier.build import build_verifier
from thinkscale.eval.view import write_report
from thinkscale.inference.backend import BackendArgs, backend_suffix
from thinkscale.inference.models.load import ModelArgs


def split(items: list[Item], args: StrategyArgs) -> tuple[list[Item], list[Item]]:
    """A seeded validation/test split by hashed id: the same ids on every machine and every rerun."""
    ranked = sorted(items, key=lambda it: hashlib.blake2b(f"{args.split_seed}:{it.id}".encode()).hexdigest())
    if len(ranked) < 2:
        raise ConfigError(f"the benchmark has {len(ranked)} questions; the study needs at least 2")
    n_val = min(args.val_questions, len(ranked) // 2)
    return ranked[:n_val], ranked[n_val : n_val + args.test_questions]


def main(argv: Sequence[str] | None = None) -> int:
    model_args, fmt, bench, pset, args, backend, again = parse_config(
        [ModelArgs, FormatArgs, BenchmarkArgs, PolicySettings, StrategyArgs, BackendArgs, RestartArgs],
        argv,
        doc=__doc__,
    )
    val, test = split(load_benchmark(bench, args.output_root), args)
    tag = re.sub(
        r"[^A-Za-z0-9._-]+", "-", f"{model_args.model.replace('outputs/sft/', '')}_{bench.benchmark}"
    )
    name = (args.name or tag.strip("-")[-64:]) + backend_suffix(backend)
    out = stage_dir("strategies", name, args.output_root)
    with claimed_run(out, "the strategy study", again.restart):
        out.mkdir(parents=True, exist_ok=True)
        save_config(out / "config.yaml", model_args, fmt, bench, pset, args, backend)
        rec_path, sam_path = out / "records.jsonl", out / "samples.jsonl"
        records = read_jsonl(rec_path, allow_torn_tail=True) if rec_path.exists() else []
        samples = (
            {s["id"]: s for s in read_jsonl(sam_path, allow_torn_tail=True)} if sam_path.exists() else {}
        )
        done = {(r["key"], r["id"]) for r in records}
        ctx = None
        with JsonlAppender(rec_path) as rec_sink, JsonlAppender(sam_path) as sam_sink:
            for strategy, setting in settings(args):
                key = setting_key(strategy, setting)
                for part, pool in (("val", val), ("test", test)):
                    todo = [it for it in pool if (key, it.id) not in done]
                    if not todo:
                        continue
                    if ctx is None:
                        policy = load_policy(model_args, fmt, pset, args.batch_size, backend,
                                             states=str(args.verifier).startswith("value_head:"))  # fmt: skip
                        verifier = build_verifier(args.verifier, policy, backend, model_args.dtype)
                        atomic_write_json(
                            out / "policy.json", {"model": model_args.model, "params": policy.params}
                        )
                        ctx = Context(
                            policy, verifier, args, samples, lambda q, e: sam_sink.write({"id": q, **e})
                        )
                    bar = tqdm(total=len(todo), desc=f"{key} [{part}]", unit="q")
                    for start in range(0, len(todo), args.question_chunk):
                        chunk = todo[start : start + args.question_chunk]
                        before = _engine_work(ctx)
                        results = STRATEGIES[strategy](ctx, chunk, setting)
                        engine = _engine_work(ctx, before, chunk[0].id, len(chunk))
                        for r in results:
                            r.update(key=key, split=part, **engine)
                            rec_sink.write(r)
                            records.append(r)
                        bar.update(len(chunk))
                    bar.close()

        wanted = {setting_key(s, st) for s, st in settings(args)}
        ids = {"val": {it.id for it in val}, "test": {it.id for it in test}}
        mine = [r for r in records if r["key"] in wanted]
        val_recs = [r for r in mine if r["id"] in ids["val"]]
        test_recs = [r for r in mine if r["id"] in ids["test"]]
        policy_params = ctx.policy.params if ctx else _saved_params(out / "policy.json")
        verifier_params = ctx.verifier.params if ctx and ctx.verifier else 0.0
        rows = report.label_rows(test_recs, policy_params, verifier_params)
        aurocs = {part: report.verifier_auroc(samples, ids[part]) for part in ("val", "test")}
        optimal = report.compute_optimal(val_recs, test_recs, samples)
        title = f"{model_args.model} on {bench.benchmark}: {len(val)} validation / {len(test)} test questions"
        atomic_write_json(out / "metrics.json", {"title": title, "policy_params": policy_params, "labels": rows,
                                                 "verifier": aurocs, "compute_optimal": optimal,
                                                 **report.engine_totals(mine), "provenance": provenance()})  # fmt: skip
        text = report.markdown(title, rows, aurocs, optimal)
        atomic_write_text(out / "summary.md", text)
        report.plot(rows, optimal, out / "strategies.png", title)
        write_report(out)  # report.html: every question across strategies, search trees (thinkscale view)
        print(text)
        print(f"written: {out}")
        if ctx is not None:
            ctx.policy.tree.close()
            if hasattr(ctx.verifier, "close"):  # a verifier with an engine of its own (a PRM on vLLM)
                ctx.verifier.close()
        return 0


def _engine_work(ctx, before=None, first: str = "", questions: int = 0):
    """vLLM's work so far (before a chunk), or since `before` as the chunk records' `engine` entry: the
    chunk's engine totals, shared by its `questions` (the chunk named by its `first` question's id;
    nothing on the transformers backend)."""
    work = getattr(ctx.policy.tree, "work", None)
    if work is None:
        return {}
    if before is None:
        return replace(work)
    return {"engine": {"chunk": first, "chunk_questions": questions, **work.minus(before).to_dict()}}


def _saved_params(path) -> float:
    # A rerun with nothing left to decode does not load the model: the size comes from the first run.
    return float(json.loads(path.read_text())["params"]) if path.exists() else 0.0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
