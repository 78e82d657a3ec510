"""The difficulty stage: drop questions that base models already solve; measure trace lengths.

    kept, solved_by = difficulty_filter(rows, args, fmt, device_args, cache_dir)

Each model in `--difficulty-models` answers every question through the budget-forcing batch decoder
at a short thinking budget (s1 used Qwen2.5-7B/32B; the offline default is the embedded model), the
answer is graded against the row's gold answer with `grading.grade`, and a question any model solves is
dropped. Results are appended per question to `cache/difficulty-<model>-<settings>.jsonl`, so an
interrupted run resumes where it stopped and a re-run reuses them. The second difficulty signal,
the teacher trace's length in tokens of the target tokenizer, is stored in `row["trace_tokens"]`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from common.chat_format import FormatArgs, render_prompt
from common.io import JsonlAppender, read_jsonl
from grading.grade import grade
from inference.backend import BackendArgs
from inference.engine_args import BudgetArgs, build_engine
from inference.models import ModelArgs

log = logging.getLogger(__name__)


@dataclass
class DifficultyArgs:
    """Difficulty-stage settings (recipe keys of the same names)."""

    difficulty_models: list[str] = field(
        default_factory=lambda: ["smollm2-135m"],
        metadata={"help": "Models whose solved questions are dropped (`none`: skip the filter)."},
    )
    difficulty_max_thinking_tokens: int = field(
        default=32, metadata={"help": "Thinking budget of the difficulty models (short, as in s1)."}
    )
    difficulty_max_answer_tokens: int = field(
        default=32, metadata={"help": "Answer budget of the difficulty models."}
    )
    difficulty_batch_size: int = field(default=32, metadata={"help": "Questions decoded together."})

    def budget(self) -> BudgetArgs:
        return BudgetArgs(
            max_thinking_tokens=self.difficulty_max_thinking_tokens, max_answer_tokens=self.difficulty_max_answer_tokens,
            batch_size=self.difficulty_batch_size,
        )  # fmt: skip

    def __post_init__(self) -> None:
        if [m.lower() for m in self.difficulty_models] == ["none"]:
            self.difficulty_models = []
        self.budget()  # validates the budgets with the decoder's own messages


def count_trace_tokens(rows: list[dict], tokenizer, batch: int = 512) -> None:
    """Set row["trace_tokens"]: the reasoning's length in tokens of the target tokenizer."""
    for i in tqdm(range(0, len(rows), batch), desc="trace lengths", unit="batch", leave=False):
        chunk = rows[i : i + batch]
        ids = tokenizer([r["reasoning"] for r in chunk], add_special_tokens=False)["input_ids"]
        for row, seq in zip(chunk, ids, strict=True):
            row["trace_tokens"] = len(seq)


def _cache_path(cache_dir: Path, model: str, args: DifficultyArgs, fmt: FormatArgs) -> Path:
    settings = f"{args.difficulty_max_thinking_tokens}|{args.difficulty_max_answer_tokens}|{fmt}"
    tag = hashlib.blake2b(settings.encode(), digest_size=4).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[-60:]
    return cache_dir / f"difficulty-{slug}-{tag}.jsonl"


def solve_with(
    model: str, rows: list[dict], args: DifficultyArgs, fmt: FormatArgs, base: ModelArgs, path: Path,
    backend: BackendArgs | None = None,
) -> set[str]:  # fmt: skip
    """Ids of the rows `model` solves; answers are cached in `path` (resumed when it exists)."""
    done = {r["id"]: r for r in read_jsonl(path, allow_torn_tail=True)} if path.exists() else {}
    todo = [r for r in rows if r["id"] not in done]
    if todo:
        margs = base.for_model(model)
        budget = args.budget()
        engine, tokenizer = build_engine(margs, fmt, backend, budget.batch_size)
        requests = [budget.request(render_prompt(tokenizer, fmt, r["question"])) for r in todo]
        bar = tqdm(total=len(todo), desc=f"difficulty {model}", unit="q")
        solved = sum(1 for r in done.values() if r["correct"])
        with JsonlAppender(path) as out:

            def on_result(i: int, result) -> None:
                nonlocal solved
                row = todo[i]
                g = grade(result.answer or result.thinking, row["gold"])
                record = {"id": row["id"], "correct": g.correct, "extracted": g.extracted,
                          "answer": result.answer, "thinking_tokens": result.thinking_tokens}  # fmt: skip
                out.write(record)
                done[row["id"]] = record
                solved += g.correct
                bar.update(1)
                bar.set_postfix(solved=solved)

            engine.generate(requests, on_result=on_result)
        bar.close()
    return {i for i, r in done.items() if r["correct"]}


def difficulty_filter(
    rows: list[dict], args: DifficultyArgs, fmt: FormatArgs, base: ModelArgs, cache_dir: Path,
    backend: BackendArgs | None = None,
) -> tuple[list[dict], dict[str, int]]:  # fmt: skip
    """(rows no difficulty model solves, {model: questions it solved})."""
    solved_by: dict[str, int] = {}
    solved_any: set[str] = set()
    for model in args.difficulty_models:
        solved = solve_with(model, rows, args, fmt, base, _cache_path(cache_dir, model, args, fmt), backend)
        solved_by[model] = len(solved & {r["id"] for r in rows})
        solved_any |= solved
        log.info("difficulty: %s solves %d of %d questions", model, solved_by[model], len(rows))
    return [r for r in rows if r["id"] not in solved_any], solved_by
