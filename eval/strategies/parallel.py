"""Parallel sampling: majority voting and best-of-N (naive and weighted) from one set of N samples.

    samples = draw(ctx, items)            # ctx.args.samples complete responses per question, scored
    majority(ctx, items, {})              # maj@1, maj@2, maj@4, ... maj@N
    best_of_n(ctx, items, {})             # bon@k (highest verifier score) and weighted bon@k

maj@k, bon@k use the first k samples of the same set, so the curves are nested and cost exactly
the tokens of those k samples. Weighted best-of-N sums verifier scores over equivalent answers
(Li et al. / Snell et al.); naive best-of-N takes the single highest-scoring sample.
"""

from __future__ import annotations

from thinkscale.common.errors import ConfigError
from thinkscale.eval.compute import Compute
from thinkscale.eval.strategies.answers import vote
from thinkscale.eval.strategies.confidence import trace_confidence


def powers(n: int) -> list[int]:
    out, k = [], 1
    while k < n:
        out.append(k)
        k *= 2
    return out + [n]


def draw(ctx, items) -> dict:
    """N scored samples per question (cached on ctx, so every sampling strategy shares them), each with
    its trace confidences (`eval.strategies.deepconf`)."""
    todo = [it for it in items if it.id not in ctx.samples]
    for start in range(0, len(todo), ctx.args.question_chunk):
        chunk = todo[start : start + ctx.args.question_chunk]
        computes = [Compute() for _ in chunk]
        roots = ctx.policy.roots(chunk, computes)
        n = ctx.args.samples
        parents = [roots[q] for q in range(len(chunk)) for _ in range(n)]
        owners = [q for q in range(len(chunk)) for _ in range(n)]
        seeds = [sample_seed(ctx, j) for _ in chunk for j in range(n)]
        kids = ctx.policy.expand(parents, owners, computes, "done", seeds, confidence_k=ctx.args.conf_topk)
        scores, read = _scores(ctx, chunk, kids, owners)
        for q, it in enumerate(chunk):
            rows = []
            for j in range(n):
                node = kids[q * n + j]
                answer = ctx.policy.answer(node, it.choices)
                rows.append({"answer": answer, "correct": ctx.policy.is_right(answer, it), "generated_tokens": node.generated,
                             "score": scores[q * n + j], "verifier_tokens": read[q * n + j],
                             "confidence": trace_confidence(node.confs, ctx.args.conf_window)})  # fmt: skip
            ctx.save_samples(it.id, {"prompt_tokens": computes[q].prompt_tokens, "samples": rows})
    return {it.id: ctx.samples[it.id] for it in items}


def _scores(ctx, chunk, nodes, owners) -> tuple[list[float | None], list[int]]:
    """Each sample's verifier score and the tokens the verifier read for it (charged per k below)."""
    if ctx.verifier is None:
        return [None] * len(nodes), [0] * len(nodes)
    per_sample = [Compute() for _ in nodes]
    scores = ctx.score([chunk[q].question for q in owners], nodes, list(range(len(nodes))),
                                per_sample)  # fmt: skip
    return scores, [c.verifier_tokens for c in per_sample]


def sample_seed(ctx, j: int) -> int:
    """The seed of a question's j-th sample (the same for every question: a sample's randomness is
    its own row's generator)."""
    return ctx.args.seed * 100_003 + j


def compute_of(entry: dict, k: int, scored: bool) -> Compute:
    """The cost of a question's first k shared samples (scored: with the verifier's reads)."""
    rows = entry["samples"][:k]
    return Compute(generated_tokens=sum(r["generated_tokens"] for r in rows), prompt_tokens=entry["prompt_tokens"],
                   model_calls=k, verifier_calls=k if scored else 0,
                   verifier_tokens=sum(r.get("verifier_tokens", 0) for r in rows) if scored else 0)  # fmt: skip


def majority(ctx, items, setting) -> list[dict]:
    out = []
    samples = draw(ctx, items)
    for item in items:
        entry = samples[item.id]
        for k in powers(ctx.args.samples):
            answer = vote([r["answer"] for r in entry["samples"][:k]])[0]
            out.append(ctx.record("majority", f"maj@{k}", k, item, answer, compute_of(entry, k, False)))
    return out


def best_of_n(ctx, items, setting) -> list[dict]:
    if ctx.verifier is None:
        raise ConfigError("best_of_n needs a verifier (--verifier value_head:<folder> or prm:<model id>)")
    out = []
    samples = draw(ctx, items)
    for item in items:
        entry = samples[item.id]
        for k in powers(ctx.args.samples):
            rows = entry["samples"][:k]
            best = max(range(k), key=lambda j: rows[j]["score"])
            weighted = vote([r["answer"] for r in rows], [r["score"] for r in rows])[0]
            cost = compute_of(entry, k, True)
            out.append(ctx.record("best_of_n", f"bon@{k}", k, item, rows[best]["answer"], cost))
            out.append(ctx.record("best_of_n_weighted", f"wbon@{k}", k, item, weighted, cost.copy()))
    return out
