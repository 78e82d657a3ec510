"""The `thinkscale` command: one subcommand per stage, each the stage's own CLI.

    thinkscale --help                      # the subcommands
    thinkscale chat --prompt "What is 7 + 5?" --json
    thinkscale eval --config smollm2-135m/eval --budgets 64 128
    thinkscale env                         # versions, devices and the vLLM runner, for a bug report

A subcommand imports only its own stage, so `thinkscale --help` and `thinkscale --version` answer at
once. `--config` takes a recipe file or the name of a recipe shipped with the package
(`smollm2-135m/eval`); `thinkscale recipes` lists those. `python -m thinkscale ...` is the same command
(torchrun launches it that way: `torchrun --nproc-per-node 8 -m thinkscale train ...`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from thinkscale import __version__
from thinkscale.common.config import run_cli

# subcommand -> (module under thinkscale, one line for --help)
COMMANDS: dict[str, tuple[str, str]] = {
    "chat": ("inference.chat", "Ask the model with budget forcing (one prompt, or an interactive session)"),
    "generate": ("inference.generate", "Budget-forced generation over a JSONL file of questions (resumable)"),
    "data": ("data.curate", "Curate an s1K-style dataset: sources, quality, difficulty, diversity"),
    "train": ("sft.train", "Fine-tune on curated data (s1's SFT; FSDP under torchrun or accelerate)"),
    "plan": ("sft.plan", "Will a training run fit in GPU memory? (a memory plan per device)"),
    "eval": ("eval.run", "s1's scaling study: budget forcing and the other length controls"),
    "verifier": ("eval.verifier.train", "Train the value-head verifier used by search and best-of-N"),
    "strategies": (
        "eval.strategies.run",
        "Voting, verifier search, compute-optimal choice at matched compute",
    ),
    "asv-data": ("data.asv", "Adaptive sequential voting data for budget-aware training"),
    "ibpo": ("ibpo.run", "Budget-aware training (IBPO rounds)"),
    "ibpo-eval": ("ibpo.evaluate", "Compare the IBPO model with majority voting at equal compute"),
    "serve": ("inference.vllm.serve", "OpenAI-compatible server with budget forcing (vLLM)"),
    "compare": ("eval.compare", "Do two study runs hold the same samples? (vLLM vs HF greedy rows, a rerun)"),
    "view": (
        "eval.view",
        "Write a run folder's report.html: traces with forced tokens marked, filters, trees",
    ),
    "grade": ("grading.grade", "Grade a results file with the math-verify grader"),
    "convert": (
        "inference.models.convert",
        "Convert the embedded default, a GGUF file or a chunk-package model (once, checked)",
    ),
    "recipes": ("common.recipes", "List the recipes shipped with the package"),
    "env": ("env", "Versions, devices and the vLLM runner: what a bug report needs"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: thinkscale [--version] <command> [options]   (thinkscale <command> --help for its options)",
        "",
        "Test-time scaling for reasoning language models: s1's curation, fine-tuning and budget forcing,",
        "and the other ways to spend test-time compute.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"thinkscale {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"thinkscale: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"thinkscale.{COMMANDS[name][0]}")
    sys.argv = [f"thinkscale {name}", *rest]  # argparse's prog: `usage: thinkscale eval ...`

    run_cli(module.main, rest)  # one clear line and exit code 2 for bad input, as `python -m` gives
    return 0


def entry() -> None:
    """The console script."""
    raise SystemExit(main())
