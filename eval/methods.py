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
- `no_forcing`: s1's run without budget forcing ("s1 w/o BF", its Table 1): one stream up to the
  context, no cap, no "Wait", no forced answer; one point, "none".

The instructions are s1's, appended to the question after a blank line: "Think for up to N tokens.",
"Think for up to N steps." (N = the point // `tokens_per_step`: the sweep's points are token
budgets), and the class prompts below. (s1 ran token- and step-conditional control with models
fine-tuned for them; a recipe names the model.) `wait` appends `ctx.ignore_strings` in turn; "" is
s1's "2x without string" (the stop is dropped and the token drawn again).

Unforced methods think up to `ctx.unforced_max_thinking` tokens, a safety cap far above the budgets.
Every method but rejection sampling decodes at `ctx.temperature` (0: greedy, s1's setting; above 0
with several samples per question for pass@1 averaged over N, the run's `--samples-per-question`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.eval.benchmarks import Item
from thinkscale.grading.grade import grade
from thinkscale.inference.forcing.budget import MAX_ANSWER_TOKENS, BudgetRequest, BudgetResult

# s1's class-conditional prompts, word for word (its lm-eval fork, PROMPTSHORT / PROMPTLONG)
SHORT_PROMPT = (
    "Answer after a short amount of thinking. Do not spend excessive time double-checking your work."
)
LONG_PROMPT = (
    "Answer after a long amount of thinking. If you feel like you are finished early, spend the extra time "
    "trying to double-check your work until you are absolutely sure that you have the correct answer."
)
NO_FORCING = "none"  # the one point of `no_forcing`


@dataclass(kw_only=True)
class Context:
    """What every method gets: the engine, tokenizer and format, the study's settings (EvalArgs' fields of
    the same names), the run's seed for this sample, the progress callback, and the context length
    (`no_forcing` thinks up to it). Built by keyword: fourteen positional values are one slip from a
    swapped pair."""

    engine: object
    tokenizer: object
    fmt: FormatArgs
    budgets: list[int]
    max_answer_tokens: int = MAX_ANSWER_TOKENS
    wait_max_thinking: int = 512
    unforced_max_thinking: int = 1024
    tokens_per_step: int = 16
    sample_temperature: float = 1.0
    max_tries: int = 64
    seed: int = 0
    on_result: Callable | None = None  # (sample) -> None, for progress bars
    temperature: float = 0.0
    ignore_strings: tuple[str, ...] = ("Wait",)
    context: int = 2**31 - 1  # no_forcing thinks up to here (the engine's context ends it sooner)


def bounds(method: str, point, budgets: list[int]) -> tuple[float | None, float | None]:
    """The [lo, hi] thinking range a sweep point asks for (Control counts runs inside it)."""
    if method == "class_conditional":
        mid = sorted(budgets)[len(budgets) // 2]
        return (0, mid) if point == "short" else (mid, max(budgets))
    if method in ("wait", "no_forcing"):
        return None, None  # extrapolation / no control: no range is asked for
    return 0, int(point)


def instruction(method: str, point, ctx: Context) -> str | None:
    if method.startswith("token_conditional"):
        return f"Think for up to {int(point)} tokens."
    if method.startswith("step_conditional"):
        return f"Think for up to {max(1, int(point) // ctx.tokens_per_step)} steps."
    if method == "class_conditional":
        return SHORT_PROMPT if point == "short" else LONG_PROMPT
    return None


def _prompt(ctx: Context, item: Item, extra: str | None) -> str:
    question = item.question if extra is None else f"{item.question}\n\n{extra}"
    return render_prompt(ctx.tokenizer, ctx.fmt, question)


def _sample(method: str, point, item: Item, r: BudgetResult, tries: int = 1) -> dict:
    g = grade(r.answer or "", item.gold, item.choices)
    extracted, correct, fell_back = g.extracted, g.correct, False
    if extracted is None and item.fallback is not None:  # s1's GPQA scores an unreadable answer as "A"
        extracted, correct, fell_back = item.fallback, item.fallback == item.gold, True
    steps = sum(1 for line in r.thinking.splitlines() if line.strip())
    return {"method": method, "budget": point, "id": item.id, "question": item.question, "gold": item.gold,
            "thinking": r.thinking, "answer": r.answer, "extracted": extracted, "correct": correct,
            "fallback": fell_back,
            "thinking_tokens": r.thinking_tokens, "answer_tokens": r.answer_tokens, "steps": steps,
            "tries": tries, "num_forced": r.num_forced, "think_end_reason": r.think_end_reason,
            "hit_max": r.hit_max, "level": item.level, "segments": r.segments}  # fmt: skip


def _run(
    ctx: Context, method: str, point, items: list[Item], max_thinking: int, num_ignore: int = 0
) -> list[dict]:
    extra = instruction(method, point, ctx)
    reqs = [BudgetRequest(_prompt(ctx, it, extra), max_thinking_tokens=max_thinking, num_ignore=num_ignore,
                          ignore_strings=list(ctx.ignore_strings), max_answer_tokens=ctx.max_answer_tokens,
                          thinking_temperature=ctx.temperature, answer_temperature=ctx.temperature,
                          seed=ctx.seed) for it in items]  # fmt: skip
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


def no_forcing(ctx, items, point):
    return _run(ctx, "no_forcing", point, items, ctx.context)


def class_conditional(ctx, items, point):
    return _run(ctx, "class_conditional", point, items, ctx.unforced_max_thinking)


def rejection_sampling(ctx, items, point):
    """Resample each question until its thinking fits `point` tokens (at most ctx.max_tries tries)."""
    budget, kept, todo = int(point), {}, list(range(len(items)))
    for attempt in range(1, ctx.max_tries + 1):
        reqs = [BudgetRequest(_prompt(ctx, items[i], None), max_thinking_tokens=ctx.unforced_max_thinking,
                              max_answer_tokens=ctx.max_answer_tokens, thinking_temperature=ctx.sample_temperature,
                              answer_temperature=ctx.sample_temperature,  # s1 samples the whole response at T=1
                              seed=ctx.seed + 1000 * attempt + i) for i in todo]  # fmt: skip
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
    "no_forcing": no_forcing,
}
