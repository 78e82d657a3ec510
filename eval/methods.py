"""s1's ways to control thinking length (its Table 3), one dispatch table, one signature.

    samples = METHODS["budget_forcing"](ctx, items, point)     # point: a budget, a Wait count or a class

- `budget_forcing`: the decoder forces the answer at `point` thinking tokens.
- `wait`: "Wait" extrapolation: thinking up to `ctx.wait_max_thinking` tokens, and the first `point`
  attempts to stop are suppressed with "Wait" (num_ignore = point).
- `token_conditional`: the prompt states the budget ("Think for up to N tokens."); no forcing.
- `step_conditional`: the prompt states a step budget (N // tokens_per_step steps, a step is a line:
  the marker is the newline); no forcing; the sample records the steps used.
- `class_conditional`: a "short" or a "long" thinking instruction; its bounds for Control are
  [0, middle budget] and [middle budget, largest budget].
- `rejection_sampling`: as s1 ran it, sample at temperature 1 (`ctx.sample_temperature`) until the
  thinking fits the budget. `ctx.max_tries` is a safety limit, not part of the method: the sample
  records its tries, and one that used every try without fitting is kept (out of control) and
  counted in the report, so Control's failures can be told from the cap.
- `token_conditional_bf`, `step_conditional_bf`: the stated budget plus budget forcing at it.

Unforced methods think up to `ctx.unforced_max_thinking` tokens, a safety cap far above the budgets.
Every method but rejection sampling decodes at `ctx.temperature` (0: greedy, s1's setting; above 0
with several samples per question for pass@1 averaged over N, the run's `--samples-per-question`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.chat_format import FormatArgs, render_prompt
from eval.benchmarks import Item
from grading.grade import grade
from inference.budget import BudgetRequest, BudgetResult

SHORT_PROMPT = "Think briefly: as few steps as you can."
LONG_PROMPT = "Think carefully and at length: check every step before you answer."


@dataclass
class Context:
    engine: object
    tokenizer: object
    fmt: FormatArgs
    budgets: list[int]
    max_answer_tokens: int = 32768
    wait_max_thinking: int = 512
    unforced_max_thinking: int = 1024
    tokens_per_step: int = 16
    sample_temperature: float = 1.0
    max_tries: int = 64
    seed: int = 0
    on_result: Callable | None = None  # (sample) -> None, for progress bars
    temperature: float = 0.0


def bounds(method: str, point, budgets: list[int]) -> tuple[float | None, float | None]:
    """The [lo, hi] thinking range a sweep point asks for (Control counts runs inside it)."""
    if method == "class_conditional":
        mid = sorted(budgets)[len(budgets) // 2]
        return (0, mid) if point == "short" else (mid, max(budgets))
    if method == "wait":
        return None, None  # extrapolation: thinking beyond the model's own stop is the point
    return 0, int(point)


def instruction(method: str, point, ctx: Context) -> str | None:
    if method.startswith("token_conditional"):
        return f"Think for up to {int(point)} tokens."
    if method.startswith("step_conditional"):
        return f"Think in at most {max(1, int(point) // ctx.tokens_per_step)} steps, one step per line."
    if method == "class_conditional":
        return SHORT_PROMPT if point == "short" else LONG_PROMPT
    return None


def _prompt(ctx: Context, item: Item, extra: str | None) -> str:
    question = item.question if extra is None else f"{item.question}\n\n{extra}"
    return render_prompt(ctx.tokenizer, ctx.fmt, question)


def _sample(method: str, point, item: Item, r: BudgetResult, tries: int = 1) -> dict:
    g = grade(r.answer or "", item.gold, item.choices)
    steps = sum(1 for line in r.thinking.splitlines() if line.strip())
    return {"method": method, "budget": point, "id": item.id, "question": item.question, "gold": item.gold,
            "thinking": r.thinking, "answer": r.answer, "extracted": g.extracted, "correct": g.correct,
            "thinking_tokens": r.thinking_tokens, "answer_tokens": r.answer_tokens, "steps": steps,
            "tries": tries, "num_forced": r.num_forced, "think_end_reason": r.think_end_reason,
            "level": item.level}  # fmt: skip


def _run(
    ctx: Context, method: str, point, items: list[Item], max_thinking: int, num_ignore: int = 0
) -> list[dict]:
    extra = instruction(method, point, ctx)
    reqs = [BudgetRequest(_prompt(ctx, it, extra), max_thinking_tokens=max_thinking, num_ignore=num_ignore,
                          max_answer_tokens=ctx.max_answer_tokens, thinking_temperature=ctx.temperature,
                          answer_temperature=ctx.temperature, seed=ctx.seed) for it in items]  # fmt: skip
    out: list[dict | None] = [None] * len(items)

    def done(i: int, r: BudgetResult) -> None:
        out[i] = _sample(method, point, items[i], r)
        if ctx.on_result:
            ctx.on_result(out[i])

    ctx.engine.generate(reqs, on_result=done)
    return out  # type: ignore[return-value]


def budget_forcing(ctx, items, point):
    return _run(ctx, "budget_forcing", point, items, int(point))


def wait(ctx, items, point):
    return _run(ctx, "wait", point, items, ctx.wait_max_thinking, num_ignore=int(point))


def token_conditional(ctx, items, point):
    return _run(ctx, "token_conditional", point, items, ctx.unforced_max_thinking)


def step_conditional(ctx, items, point):
    return _run(ctx, "step_conditional", point, items, ctx.unforced_max_thinking)


def token_conditional_bf(ctx, items, point):
    return _run(ctx, "token_conditional_bf", point, items, int(point))


def step_conditional_bf(ctx, items, point):
    return _run(ctx, "step_conditional_bf", point, items, int(point))


def class_conditional(ctx, items, point):
    return _run(ctx, "class_conditional", point, items, ctx.unforced_max_thinking)


def rejection_sampling(ctx, items, point):
    """Resample each question until its thinking fits `point` tokens (at most ctx.max_tries tries)."""
    budget, kept, todo = int(point), {}, list(range(len(items)))
    for attempt in range(1, ctx.max_tries + 1):
        reqs = [BudgetRequest(_prompt(ctx, items[i], None), max_thinking_tokens=ctx.unforced_max_thinking,
                              max_answer_tokens=ctx.max_answer_tokens, thinking_temperature=ctx.sample_temperature,
                              answer_temperature=0.0, seed=ctx.seed + 1000 * attempt + i) for i in todo]  # fmt: skip
        results = ctx.engine.generate(reqs)
        left = []
        for i, r in zip(todo, results, strict=True):
            kept[i] = _sample("rejection_sampling", point, items[i], r, tries=attempt)
            if r.thinking_tokens > budget and attempt < ctx.max_tries:
                left.append(i)
            elif ctx.on_result:
                ctx.on_result(kept[i])
        todo = left
        if not todo:
            break
    return [kept[i] for i in range(len(items))]


METHODS: dict[str, Callable] = {
    "budget_forcing": budget_forcing,
    "wait": wait,
    "token_conditional": token_conditional,
    "step_conditional": step_conditional,
    "class_conditional": class_conditional,
    "rejection_sampling": rejection_sampling,
    "token_conditional_bf": token_conditional_bf,
    "step_conditional_bf": step_conditional_bf,
}
