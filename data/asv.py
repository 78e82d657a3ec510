"""ASV-SFT data: easy questions answered in one trial, hard ones with sequential-voting traces.

    thinkscale asv-data --config recipes/smollm2-135m/asv_data.yaml

Problems come from the built-in pool's generators, train side only (the parameter hash that keeps
the held-out test split clean applies here too). A question of level <= `easy_max_level` gets one
trace; a harder one gets an SV trace (Yu et al., 2025): trials separated by the SV separator line
(`common.trials`) until `agree` trials agree. With probability `wrong_trial_rate` the first trial
ends on a wrong answer (its last line states a nearby wrong value), so the model sees why a second
trial is worth its tokens. Writes outputs/data/<name>/train.jsonl in the curation's schema (text,
prompt_text, question, reasoning, answer, gold, level, meta.trials), report.json and config.yaml;
`thinkscale train --dataset <name>` trains on it.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import parse_config, run_cli, save_config
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_write_json, atomic_write_jsonl
from thinkscale.common.paths import stage_dir
from thinkscale.common.restart import RestartArgs, claimed_run
from thinkscale.common.trials import join_trials
from thinkscale.common.validate import at_least
from thinkscale.data.builtin.pool import GENERATORS, LEVELS, _row, normalise_question, split_of
from thinkscale.data.builtin.problem import Problem, Step, fmt
from thinkscale.data.builtin.traces import TraceStyle, write_trace
from thinkscale.data.render import render_rows
from thinkscale.inference.models.load import ModelArgs, load_tokenizer, resolve_model


@dataclass
class ASVDataArgs:
    _argument_group_name = "asv-data"  # its flags' heading in --help
    name: str = field(default="asv", metadata={"help": "Folder under outputs/data/."})
    output_root: str | None = field(default=None, metadata={"help": "Outputs root (default ./outputs)."})
    per_level: int = field(default=4, metadata={"help": "Problems per domain and level."})
    easy_max_level: int = field(default=2, metadata={"help": "Levels up to this get one trial."})
    agree: int = field(default=2, metadata={"help": "SV traces stop when this many trials agree."})
    wrong_trial_rate: float = field(
        default=0.3, metadata={"help": "Share of SV traces opening with a wrong trial."}
    )
    block_size: int = field(default=1024, metadata={"help": "Rows longer than this (tokens) are dropped."})
    seed: int = field(default=1, metadata={"help": "Generator seed (use one other than the curation's)."})

    def __post_init__(self) -> None:
        if self.per_level <= 0 or self.agree < 1:
            raise ConfigError(f"--per-level and --agree must be positive, got {self.per_level}, {self.agree}")
        if not 0 <= self.wrong_trial_rate <= 1:
            raise ConfigError(f"--wrong-trial-rate must be in [0, 1], got {self.wrong_trial_rate}")
        at_least(self, 1, "easy_max_level", "block_size")


def wrong_trial(problem: Problem, rng: random.Random, style: TraceStyle) -> str | None:
    """A trace that slips on its last computed step and carries the slip into a wrong answer.

    None when the answer is not that step's number (a formatted answer, a check after the step):
    then no wrong trial is written rather than an inconsistent one."""
    steps = [s for s in problem.steps if isinstance(s, Step)]
    if isinstance(problem.answer, str) or not steps or Fraction(steps[-1].value) != Fraction(problem.answer):
        return None
    last = steps[-1]
    wrong = Fraction(last.value) + rng.choice([-3, -2, -1, 1, 2, 3])
    text, _ = write_trace(problem, rng, TraceStyle(verify_rate=0.0, slip_rate=0.0))
    lines = text.splitlines()
    at = max(i for i, line in enumerate(lines) if line == last.render())
    lines[at] = last.render(wrong)
    return "\n".join(lines[:-1] + [f"So the answer is {fmt(wrong)}."])


def sv_trials(problem: Problem, rng: random.Random, style: TraceStyle, args: ASVDataArgs) -> list[str]:
    trials = []
    if rng.random() < args.wrong_trial_rate and (bad := wrong_trial(problem, rng, style)):
        trials.append(bad)
    trials += [write_trace(problem, rng, style)[0] for _ in range(args.agree)]
    return trials


def build_rows(args: ASVDataArgs) -> list[dict]:
    style, rows, seen = TraceStyle(), [], set()
    for domain, gen in GENERATORS.items():
        for level in LEVELS:
            rng = random.Random(f"asv|{args.seed}|{domain}|{level}")
            got = 0
            for _ in range(200 * args.per_level):
                if got == args.per_level:
                    break
                p = gen(rng, level)
                q = normalise_question(p.question)
                if split_of(p) != "train" or q in seen:
                    continue
                seen.add(q)
                got += 1
                row = _row(p, rng, style)
                trials = (
                    [row["reasoning"]] if level <= args.easy_max_level else sv_trials(p, rng, style, args)
                )
                row.update(reasoning=join_trials(trials), source="builtin-asv",
                           meta={**row["meta"], "trials": len(trials), "extended": len(trials) > 1})  # fmt: skip
                rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:

    model_args, fmt_args, args, again = parse_config(
        [ModelArgs, FormatArgs, ASVDataArgs, RestartArgs], argv, doc=__doc__
    )
    out = stage_dir("data", args.name, args.output_root)
    with claimed_run(out, "ASV data", again.restart):
        rows = build_rows(args)
        tokenizer = load_tokenizer(resolve_model(model_args.model, model_args.revision))
        rows, info = render_rows(rows, tokenizer, fmt_args, args.block_size, over_length="drop")
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_jsonl(out / "train.jsonl", rows)
        report = {"rows": len(rows), **info, "by_trials": dict(Counter(r["meta"]["trials"] for r in rows)),
                  "extended": sum(r["meta"]["extended"] for r in rows), "tokens": sum(r["num_tokens"] for r in rows)}  # fmt: skip
        atomic_write_json(out / "report.json", report)
        save_config(out / "config.yaml", model_args, fmt_args, args)
        print(
            f"{len(rows)} rows ({report['extended']} with SV traces, {report['tokens']} tokens): {out / 'train.jsonl'}"
        )
        return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
