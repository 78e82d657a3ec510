"""IBPO rounds: sample, grade, select under the budget, fine-tune; per budget q, R rounds.

    thinkscale ibpo --config recipes/smollm2-135m/ibpo.yaml

For each q in `budgets`, round 1 samples from `start_model` (the ASV-SFT model) and round r from
round r-1's model. Samples (k graded, grouped responses per question, appended as questions finish)
live in outputs/ibpo/<name>/samples/, keyed by model and seed, so round 1 of every budget shares one
set. Each round keeps, in outputs/ibpo/<name>/q<q>/round-<r>/: selection.json (the ILP's choices
and per-batch counts), train.jsonl (the chosen responses in s1 format) and state.json, written last,
naming the round's samples file and checkpoint (outputs/sft/<name>-q<q>-r<r>/final, trained by
`sft.train` with `sft_config`). A rerun skips finished rounds and resumes an interrupted one:
sampling per question, training from its last complete checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import parse_config, run_cli, save_config
from thinkscale.common.io import atomic_write_json, atomic_write_jsonl
from thinkscale.common.paths import stage_dir
from thinkscale.common.provenance import provenance
from thinkscale.common.restart import RestartArgs, claimed_run
from thinkscale.eval.benchmarks import Item, load_train_questions
from thinkscale.ibpo.args import IBPOArgs
from thinkscale.ibpo.rounds import choose, sample, train_rows
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.engine_args import build_engine
from thinkscale.inference.models.load import ModelArgs


def load_questions(args: IBPOArgs) -> list[Item]:
    from thinkscale.sft.dataset import find_train_file

    return load_train_questions(find_train_file(args.questions_from, args.output_root), args.questions)


def run_round(
    model: str, base: ModelArgs, fmt: FormatArgs, args: IBPOArgs, q: float, r: int, items, folder: Path,
    backend: BackendArgs,
) -> str:  # fmt: skip
    """One round; returns the model the next round samples from."""
    from thinkscale.sft.train import main as sft_main

    state = folder / "state.json"
    if state.exists():
        return json.loads(state.read_text())["model_out"]
    folder.mkdir(parents=True, exist_ok=True)
    # Samples depend on the model and seed only: round 1 of every budget shares one sample set.
    key = hashlib.blake2b(
        f"{model}|{args.seed + r}|{args.samples}|{args.temperature}".encode(), digest_size=6
    ).hexdigest()
    samples = folder.parent.parent / "samples" / f"{key}.jsonl"
    samples.parent.mkdir(parents=True, exist_ok=True)
    engine, tokenizer = build_engine(base.for_model(model), fmt, backend, args.batch_size)
    rows = sample(engine, tokenizer, fmt, items, args, args.seed + r, samples)
    engine.close()  # training comes next: a vLLM engine's memory must be free by then
    del engine
    chosen, stats = choose(rows, q, args)
    atomic_write_json(
        folder / "selection.json", {**stats, "chosen_ids": [f"{c['id']}#{c['j']}" for c in chosen]}
    )
    out = model
    if chosen:
        atomic_write_jsonl(folder / "train.jsonl", train_rows(chosen, tokenizer, fmt))
        name = f"{args.name}-q{q:g}-r{r}"
        sft_main(["--config", args.sft_config, "--model", model, "--dataset", str(folder / "train.jsonl"),
                  "--name", name, "--resume", "true"] + (["--output-root", args.output_root] if args.output_root else []))  # fmt: skip
        out = str(stage_dir("sft", name, args.output_root) / "final")
    atomic_write_json(state, {"q": q, "round": r, "model_in": model, "model_out": out, "trained": bool(chosen),
                              "samples": str(samples),
                              "selection": {k: v for k, v in stats.items() if k != "batches"},
                              "provenance": provenance()})  # fmt: skip
    return out


def main(argv: Sequence[str] | None = None) -> int:
    base, fmt, args, backend, again = parse_config(
        [ModelArgs, FormatArgs, IBPOArgs, BackendArgs, RestartArgs], argv, doc=__doc__
    )
    items = load_questions(args)
    out = stage_dir("ibpo", args.name, args.output_root)
    # restart: every round's fine-tuning run goes too, which a rerun would otherwise reuse
    rounds = stage_dir("sft", args.name, args.output_root).parent.glob(f"{args.name}-q*-r*")
    with claimed_run(out, "IBPO", again.restart, rounds):
        out.mkdir(parents=True, exist_ok=True)
        save_config(out / "config.yaml", base, fmt, args, backend)
        final = {}
        for q in args.budgets:
            model = args.start_model
            for r in range(1, args.rounds + 1):
                model = run_round(
                    model, base, fmt, args, q, r, items, out / f"q{q:g}" / f"round-{r}", backend
                )
                sel = json.loads((out / f"q{q:g}" / f"round-{r}" / "state.json").read_text())["selection"]
                print(f"q={q:g} round {r}: {sel['right']}/{sel['responses']} right, {sel['extended']} extended; "
                      f"chose {sel['chosen']} ({sel['chosen_extended']} extended) -> {model}")  # fmt: skip
            final[f"{q:g}"] = model
        atomic_write_json(out / "models.json", final)
        print(f"written: {out} (models: {out / 'models.json'})")
        return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
