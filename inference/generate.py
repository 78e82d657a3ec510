"""Batch budget-forced generation: a JSON-lines file of questions in, a JSON-lines file of results out.

    thinkscale generate --input questions.jsonl --output results.jsonl \
        --max-thinking-tokens 256 --num-ignore 2 [--model M] [--config recipes/smollm2-135m/chat.yaml] \
        [--backend vllm --tensor-parallel-size N --max-model-len L]

Each input line is an object with the question in `--question-field` (default `question`) and an
optional `id` (default: its line number). Each output line is the input row plus every
BudgetResult field. Results are appended as they finish (on vLLM, per chunk of `--batch-size`
requests), so an interrupted run resumes where it stopped: rows whose id is already in the output
are skipped. The resolved config is written to
`<output>.config.yaml`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.common.config import parse_config, run_cli, save_config
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import JsonlAppender, read_jsonl
from thinkscale.common.lock import run_lock
from thinkscale.common.restart import RestartArgs
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.engine_args import BudgetArgs, build_engine
from thinkscale.inference.models.load import ModelArgs


@dataclass
class GenerateArgs:
    _argument_group_name = "run: input and output files"  # its flags' heading in --help
    input: str = field(default="", metadata={"help": "JSON-lines file of questions."})
    output: str = field(default="", metadata={"help": "JSON-lines file of results (appended to; resumable)."})
    question_field: str = field(
        default="question", metadata={"help": "Field of each input row that holds the question."}
    )

    def __post_init__(self) -> None:
        if not self.input:
            raise ConfigError("--input is required (a JSON-lines file of questions)")
        if not Path(self.input).is_file():
            raise FileNotFoundError(f"--input {self.input}: no such file")
        if not self.output:
            raise ConfigError("--output is required (a JSON-lines file for the results)")


def pending_rows(args: GenerateArgs) -> list[dict]:
    """Input rows not yet in the output, each with an `id`; bad rows raise naming file and line."""
    rows = read_jsonl(args.input)
    if not rows:
        raise ConfigError(f"--input {args.input}: the file holds no rows")
    for lineno, row in enumerate(rows, 1):
        if not isinstance(row.get(args.question_field), str) or not row[args.question_field].strip():
            raise ConfigError(
                f"{args.input}: row {lineno} has no non-empty {args.question_field!r} field (see --question-field)"
            )
        row.setdefault("id", lineno)
    done = (
        {r.get("id") for r in read_jsonl(args.output, allow_torn_tail=True)}
        if Path(args.output).exists()
        else set()
    )
    return [r for r in rows if r["id"] not in done]


def main(argv: Sequence[str] | None = None) -> int:
    model_args, fmt, budget, args, backend, again = parse_config(
        [ModelArgs, FormatArgs, BudgetArgs, GenerateArgs, BackendArgs, RestartArgs], argv, doc=__doc__
    )
    output = Path(args.output)
    with run_lock(output.parent, f"generation into {output.name}", name=f".{output.name}.lock"):
        if again.restart and output.exists():  # only the output file: its folder may hold anything
            output.unlink()
            print(f"--restart: removed {output}")
        return _generate(model_args, fmt, budget, args, backend)


def _generate(model_args, fmt, budget, args, backend) -> int:
    from tqdm import tqdm

    rows = pending_rows(args)
    save_config(f"{args.output}.config.yaml", model_args, fmt, budget, args, backend)
    if not rows:
        print(f"{args.output}: every row is already done")
        return 0
    engine, tokenizer = build_engine(model_args, fmt, backend, budget.batch_size)
    requests = [budget.request(render_prompt(tokenizer, fmt, r[args.question_field])) for r in rows]
    with JsonlAppender(args.output) as out, tqdm(total=len(rows), desc="generate", unit="q") as bar:

        def write(i: int, result) -> None:
            out.write({**rows[i], **result.to_dict()})
            bar.update(1)

        engine.generate(requests, on_result=write)
    engine.close()
    print(f"wrote {len(rows)} results to {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
