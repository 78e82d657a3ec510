"""Sequential strategies: budget forcing, sequential voting (SV) and adaptive sequential voting (ASV).

    budget_forcing(ctx, items, {"budget": 64})        # greedy, answer forced at 64 thinking tokens
    sequential_vote(ctx, items, {"trials": 8, "agree": 3})
    adaptive_vote(ctx, items, {"trials": 8, "agree": 3, "judge": "verifier"})

SV (Yu et al., 2025): one response holds up to `trials` attempts. Each trial is sampled until the
model tries to end its thinking; the stop is discarded, the trial's answer is parsed from its text
(the grader's extraction: boxed, "Answer:", "the answer is", last number), and if no `agree` trials
agree yet, the separator ("Wait, let me solve it again from the start.") is appended and the next
trial continues the same response, seeing the earlier ones. Generation stops as soon as `agree`
trials agree. With no consensus after `trials` trials the most plausible trial wins: the answer
given most often, ties broken by the verifier's score of the trials (the earliest trial without a
verifier). The response may think up to `trials` x `max_thinking_tokens`; a trial cut by that cap
is answered through the decoder's forced answer and ends the response. The final answer is written, not decoded: the vote decides it.

ASV: easy questions get one trial, hard ones SV. `judge="self"` asks the model first (a prompt
ending "This problem is" and the next-token probabilities of " easy" and " hard": one prompt read);
`judge="verifier"` runs the first trial and calls the question easy when the verifier scores that
trial at least `ctx.args.asv_threshold`.
"""

from __future__ import annotations

from thinkscale.common.errors import ConfigError
from thinkscale.common.trials import SEPARATOR
from thinkscale.eval.compute import Compute
from thinkscale.eval.strategies.answers import clusters, vote
from thinkscale.grading.extract import extract_answer


def budget_forcing(ctx, items, setting) -> list[dict]:
    budget = int(setting["budget"])
    computes = [Compute() for _ in items]
    roots = ctx.policy.roots(items, computes)
    kids = ctx.policy.expand(roots, list(range(len(items))), computes, "done", [ctx.args.seed] * len(items),
                             temperature=0.0, max_thinking_tokens=budget)  # fmt: skip
    return [ctx.record("budget_forcing", f"bf@{budget}", budget, it, ctx.policy.answer(k, it.choices), c)
            for it, k, c in zip(items, kids, computes, strict=True)]  # fmt: skip


def sequential_vote(ctx, items, setting) -> list[dict]:
    return _vote(ctx, items, int(setting["trials"]), int(setting["agree"]), "sequential_vote", "sv", None)


def adaptive_vote(ctx, items, setting) -> list[dict]:
    judge = setting["judge"]
    if judge == "verifier" and ctx.verifier is None:
        raise ConfigError("adaptive_vote with judge=verifier needs --verifier")
    return _vote(
        ctx,
        items,
        int(setting["trials"]),
        int(setting["agree"]),
        f"adaptive_vote[{judge}]",
        f"asv-{judge}",
        judge,
    )


def fallback(answers: list[str | None], scores: list[float | None]) -> str | None:
    """No consensus: the most frequent answer; ties by the best verifier score, else the earliest trial."""
    ids = clusters(answers)
    best, key = None, None
    for k in set(ids) - {-1}:
        members = [i for i, c in enumerate(ids) if c == k]
        top = max((scores[i] for i in members if scores[i] is not None), default=0.0)
        candidate = (len(members), top, -members[0])
        if key is None or candidate > key:
            best, key = answers[members[0]], candidate
    return best


def _vote(ctx, items, trials: int, agree: int, strategy: str, label: str, judge: str | None) -> list[dict]:
    if trials < 1 or not 1 <= agree <= trials:
        raise ConfigError(f"sequential voting needs 1 <= agree <= trials, got agree={agree}, trials={trials}")
    computes = [Compute() for _ in items]
    nodes = ctx.policy.roots(items, computes)
    limit = [trials] * len(items)
    if judge == "self":
        limit = [1 if easy else trials for easy in ctx.policy.judge_easy(items, computes)]
    answers: list[list] = [[] for _ in items]
    scores: list[list] = [[] for _ in items]
    final: list = [None] * len(items)
    open_ = set(range(len(items)))
    for t in range(trials):
        active = sorted(q for q in open_ if t < limit[q])
        if not active:
            break
        # One response holds all the trials: its thinking cap is K times one answer's.
        kids = ctx.policy.expand([nodes[q] for q in active], active, computes, "think_end",
                                 [ctx.args.seed * 7919 + 31 * q + t for q in active], forced=SEPARATOR if t else "",
                                 max_thinking_tokens=trials * ctx.policy.s.max_thinking_tokens)  # fmt: skip
        trial_scores = _score(ctx, items, kids, active, computes)
        for q, kid, s in zip(active, kids, trial_scores, strict=True):
            nodes[q] = kid
            text = ctx.policy.answer_text(kid) if kid.done else ctx.policy.step_text(kid)
            answers[q].append(extract_answer(text, items[q].choices))
            scores[q].append(s)
            agreed, count = vote(answers[q])
            if count >= agree or kid.done:
                final[q] = agreed if count >= agree else fallback(answers[q], scores[q])
                open_.discard(q)
            elif t == 0 and judge == "verifier" and s is not None and s >= ctx.args.asv_threshold:
                final[q] = answers[q][0]
                open_.discard(q)
    for q in open_:
        final[q] = fallback(answers[q], scores[q])
    return [ctx.record(strategy, f"{label} K={trials} M={agree}", trials, it, final[q], computes[q],
                       {"trials": len(answers[q]), "trial_answers": answers[q]})
            for q, it in enumerate(items)]  # fmt: skip


def _score(ctx, items, kids, owners, computes) -> list[float | None]:
    if ctx.verifier is None:
        return [None] * len(kids)
    return ctx.score([items[q].question for q in owners], kids, owners, computes)
