"""The difficulty stage: drop questions that base models already solve; measure trace lengths.

    kept, solved_by = difficulty_filter(rows, args, fmt, device_args, cache_dir)

Each model in `--difficulty-models` answers every question through the budget-forcing batch decoder
(s1 used Qwen2.5-7B/32B; the offline default is the embedded model): in the s1 think format at a
short thinking budget (`--difficulty-mode think`, the CPU probe), or in the model's own chat format
with one long generation, as s1 ran it (`native`: s1's bulk_inference.py, 32768 tokens, temperature
0.05, the whole response graded). The answer is graded against the row's gold answer with `grading.grade`, and a question any model solves is
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

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import JsonlAppender, read_jsonl
from thinkscale.grading.grade import grade
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.engine_args import BudgetArgs, build_engine
from thinkscale.inference.models.load import ModelArgs

log = logging.getLogger(__name__)


@dataclass
class DifficultyArgs:
    """Difficulty-stage settings (recipe keys of the same names)."""

    _argument_group_name = "curation: difficulty filter"  # its flags' heading in --help

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
    difficulty_mode: str = field(
        default="think",
        metadata={"help": "think: the s1 think format at a short budget (the CPU probe); native: each model "
                  "answers in its own chat format, one long generation, graded whole (as s1 ran Qwen2.5-7B/32B)."},
    )  # fmt: skip
    difficulty_temperature: float = field(
        default=0.0, metadata={"help": "Sampling temperature of the difficulty models (s1: 0.05)."}
    )

    def budget(self) -> BudgetArgs:
        return BudgetArgs(
            max_thinking_tokens=self.difficulty_max_thinking_tokens, max_answer_tokens=self.difficulty_max_answer_tokens,
            batch_size=self.difficulty_batch_size, temperature=self.difficulty_temperature,
        )  # fmt: skip

    def __post_init__(self) -> None:
        if [m.lower() for m in self.difficulty_models] == ["none"]:
            self.difficulty_models = []
        if self.difficulty_mode not in ("think", "native"):
            raise ConfigError(f"--difficulty-mode must be think or native, got {self.difficulty_mode!r}")
        self.budget()  # validates the budgets with the decoder's own messages


def native_prompt(tokenizer, question: str) -> str:
    """The model's own chat format: one user turn and the assistant header (s1's bulk_inference.py);
    the template adds its default system prompt, if it has one."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)  # fmt: skip


def graded_text(result, mode: str) -> str:
    """What is graded. native: the response the model wrote — it never writes the think delimiter, so
    it all arrives as "thinking" and ends at its end of turn; what the decoder appends after that
    (the delimiter, "Final Answer:" and a sampled token or so) is not the model's answer and is not
    read ("The answer is 12.\nFinal Answer: The" is graded as "The answer is 12."). A model that did
    write the delimiter itself wrote its answer too. think: the answer only, as every study grades
    (a probe that never reaches its answer has not solved the question)."""
    if mode == "native":
        wrote_answer = getattr(result, "think_end_reason", "") == "delimiter"
        return "\n".join(t for t in (result.thinking, result.answer if wrote_answer else "") if t)
    return result.answer


def count_trace_tokens(rows: list[dict], tokenizer, batch: int = 512) -> None:
    """Set row["trace_tokens"]: the reasoning's length in tokens of the target tokenizer."""
    for i in tqdm(range(0, len(rows), batch), desc="trace lengths", unit="batch", leave=False):
        chunk = rows[i : i + batch]
        ids = tokenizer([r["reasoning"] for r in chunk], add_special_tokens=False)["input_ids"]
        for row, seq in zip(chunk, ids, strict=True):
            row["trace_tokens"] = len(seq)


def _cache_path(cache_dir: Path, model: str, args: DifficultyArgs, fmt: FormatArgs) -> Path:
    settings = f"{args.difficulty_max_thinking_tokens}|{args.difficulty_max_answer_tokens}|{fmt}"
    if args.difficulty_mode != "think" or args.difficulty_temperature:  # earlier caches keep their names
        settings += f"|{args.difficulty_mode}|{args.difficulty_temperature}"
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
        render = (lambda q: native_prompt(tokenizer, q)) if args.difficulty_mode == "native" else (
            lambda q: render_prompt(tokenizer, fmt, q))  # fmt: skip
        requests = [budget.request(render(r["question"])) for r in todo]
        bar = tqdm(total=len(todo), desc=f"difficulty {model}", unit="q")
        solved = sum(1 for r in done.values() if r["correct"])
        with JsonlAppender(path) as out:

            def on_result(i: int, result) -> None:
                nonlocal solved
                row = todo[i]
                g = grade(graded_text(result, args.difficulty_mode), row["gold"], row.get("choices"))
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
