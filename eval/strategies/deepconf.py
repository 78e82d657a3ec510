"""Confidence-weighted voting and early stopping: DeepConf (Fu et al., 2025, arXiv 2508.15260).

    trace_confidence(node.confs, window=2048)   # {"mean", "tail", "bottom10", "lowest"}
    deepconf(ctx, items, {"eta": 10})           # offline: dc10@k, k = 1, 2, 4, ..., N, over the shared samples
    deepconf_online(ctx, items, {"eta": 10, "warmup": 4, "budget": 8, "consensus": 0.95})

A token's confidence is minus the mean of the top-k log-probabilities of the distribution it was
sampled from (k = `conf_topk`, 20 as the paper; `inference.forcing.steps.token_confidence`): high where the
model is sure. A trace's confidence is one of (`trace_confidence`, over every sampled token of the
trace, thinking and answer): the mean; the tail (the last `window` tokens); the mean of the lowest
10% of its sliding windows of `window` tokens (bottom10); the lowest window (lowest, the paper's
"lowest group confidence", which the online mode uses). A trace shorter than a window has one window,
all of it.

Offline (`deepconf`): over the strategy study's N shared samples, maj@k's samples and cost. Among the
first k samples that gave an answer, keep those whose trace confidence (`conf_measure`, default
lowest) is at least the (100 - eta)th percentile of theirs (linear interpolation: keep the top eta%;
eta = 10 is the paper's DeepConf-low, 90 DeepConf-high), then vote weighted by that confidence.
Equivalent answers are one answer (the grader's math-verify clusters, as every vote here); the
reference code votes on exact strings.

Online (`deepconf_online`): the first `warmup` shared samples are the warm-up traces (their cost is
counted); the threshold is the (100 - eta)th percentile of their lowest-window confidences. Then
traces are drawn in waves of `warmup` with a confidence stop: a trace ends, unanswered, at the first
token that completes a window of `window` thinking tokens whose mean is below the threshold (exact
on the tree decoder; on vLLM in rounds cut at the same token, `inference.vllm.tree`). Votes come from
the traces whose lowest window (answer included) is at least the threshold, weighted by it; waves
stop when the top answer holds `consensus` of the vote weight or `budget` traces have been drawn.
Stopped traces cost what they generated. Wave trace j uses shared sample j's seed, so on the tree
decoder it is that sample cut at its stop.

"At least" and "below" compare within `inference.forcing.steps.CONF_TIE` (1e-4): a trace at its threshold up
to float noise is at it (the reference code compares exactly; greedy duplicates of a trace, which set
the threshold at their own confidence, would otherwise fall on either side by noise alone).
"""

from __future__ import annotations

import math

import numpy as np

from thinkscale.common.errors import ConfigError
from thinkscale.eval.strategies.answers import vote
from thinkscale.eval.strategies.confidence import trace_confidence
from thinkscale.eval.strategies.parallel import compute_of, draw, powers, sample_seed
from thinkscale.inference.forcing.steps import LOW, at_least


def filtered_vote(answers: list[str | None], confs: list[float], eta: float) -> str | None:
    """Keep the answered traces whose confidence is in their top `eta`% (percentile threshold), vote
    weighted by confidence."""
    answered = [i for i, a in enumerate(answers) if a is not None]
    if not answered:
        return None
    threshold = float(np.percentile([confs[i] for i in answered], 100 - eta))
    keep = [i for i in answered if at_least(confs[i], threshold)]
    return vote([answers[i] for i in keep], [confs[i] for i in keep])[0]


def _confidences(entry: dict, item_id: str, measure: str) -> list[float]:
    rows = entry["samples"]
    if any(r.get("confidence") is None for r in rows):
        raise ConfigError(
            f"question {item_id}: the shared samples hold no token confidences (drawn before confidences "
            "were recorded): rerun the study with --restart, or under a new --name"
        )
    return [r["confidence"][measure] for r in rows]


def deepconf(ctx, items, setting) -> list[dict]:
    eta, measure = float(setting["eta"]), setting.get("measure", "lowest")
    out = []
    samples = draw(ctx, items)
    for item in items:
        entry = samples[item.id]
        confs = _confidences(entry, item.id, measure)
        answers = [r["answer"] for r in entry["samples"]]
        for k in powers(ctx.args.samples):
            answer = filtered_vote(answers[:k], confs[:k], eta)
            out.append(ctx.record("deepconf", f"dc{eta:g}@{k}", k, item, answer, compute_of(entry, k, False)))
    return out


def deepconf_online(ctx, items, setting) -> list[dict]:
    eta, warmup, budget = float(setting["eta"]), int(setting["warmup"]), int(setting["budget"])
    consensus = float(setting["consensus"])
    if not 1 <= warmup <= min(budget, ctx.args.samples):
        raise ConfigError(
            f"deepconf_online: warmup {warmup} must be in 1..min(budget {budget}, samples {ctx.args.samples})"
        )
    samples = draw(ctx, items)
    computes, votes, thresholds, stopped = [], [], [], [0] * len(items)
    for item in items:
        entry = samples[item.id]
        lowest = _confidences(entry, item.id, "lowest")[:warmup]
        answers = [r["answer"] for r in entry["samples"][:warmup]]
        pool = [c for c, a in zip(lowest, answers, strict=True) if a is not None] or lowest
        s = float(np.percentile(pool, 100 - eta))
        thresholds.append(s)
        votes.append(
            [(a, c) for a, c in zip(answers, lowest, strict=True) if a is not None and at_least(c, s)]
        )
        computes.append(compute_of(entry, warmup, False))
    drawn = [warmup] * len(items)
    roots = ctx.policy.roots(items)  # not counted again: the prompt is read once, with the samples
    while going := [q for q in range(len(items)) if drawn[q] < budget and _share(votes[q]) < consensus]:
        for q in going:  # a wave per question: its threshold is part of the expansion
            wave = min(warmup, budget - drawn[q])
            seeds = [sample_seed(ctx, drawn[q] + j) for j in range(wave)]
            drawn[q] += wave
            kids = ctx.policy.expand([roots[q]] * wave, [q] * wave, computes, "done", seeds, confidence_k=ctx.args.conf_topk,
                                     conf_window=ctx.args.conf_window, stop_below=thresholds[q])  # fmt: skip
            for node in kids:
                if node.end == LOW:
                    stopped[q] += 1
                    continue
                conf = trace_confidence(node.confs, ctx.args.conf_window)
                answer = ctx.policy.answer(node, items[q].choices)
                if answer is not None and conf is not None and at_least(conf["lowest"], thresholds[q]):
                    votes[q].append((answer, conf["lowest"]))
    out = []
    for q, item in enumerate(items):
        answer = vote([a for a, _ in votes[q]], [c for _, c in votes[q]])[0] if votes[q] else None
        info = {"threshold": round(thresholds[q], 4), "traces": drawn[q], "stopped": stopped[q],
                "voted": len(votes[q]), "share": round(_share(votes[q]), 4)}  # fmt: skip
        out.append(ctx.record("deepconf_online", f"dc{eta:g}-online@{budget}", budget, item, answer, computes[q],
                              {"deepconf": info}))  # fmt: skip
    return out


def _share(votes: list[tuple[str, float]]) -> float:
    """The top answer's share of the vote weight (0 with no vote)."""
    total = math.fsum(c for _, c in votes)
    return vote([a for a, _ in votes], [c for _, c in votes])[1] / total if votes and total > 0 else 0.0
