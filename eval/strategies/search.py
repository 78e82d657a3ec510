"""Verifier-guided search over reasoning steps: beam search and REBASE.

    beam_search(ctx, items, {"n": 8, "width": 4, "agg": "last", "lookahead": 0})
    rebase(ctx, items, {"width": 8, "temperature": 0.2})
    allocate([0.9, 0.1, 0.5], width=8, temperature=0.2)     # -> children per node, summing to 8

A step is the text up to `step_delimiter`. Scores come from the process verifier on each new step;
a path's score aggregates its step scores (`last`, `min` or `product`).

Beam search (as in search-and-learn): the question is expanded into `n` first steps; at each depth
the `n // width` best unfinished paths are kept and each is expanded `width` times, so a depth never
holds more than `n` candidates. A path that finishes its answer leaves the beam for the finished
pool; the search ends when `n` paths have finished or none is left to expand (the best unfinished
ones are then answered). With `lookahead` k, a candidate is scored by the verifier at the end of a
k-step greedy rollout from it (rollouts are paid for, then discarded). Answer: the finished path
with the best aggregated score.

REBASE (Wu et al., 2024): the question is expanded `width` times; at each depth every unfinished
node gets round(w * softmax(score / T)) children, w being the width not yet used by finished paths
(largest-remainder rounding, so the children sum to w exactly). Answer: weighted majority over the
finished paths, each weighted by its outcome score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from thinkscale.common.errors import ConfigError
from thinkscale.eval.compute import Compute
from thinkscale.eval.strategies.answers import vote
from thinkscale.inference.hf.tree import Node

AGGREGATES = ("last", "min", "product")


@dataclass(eq=False)
class Path:
    node: Node
    q: int
    scores: list[float] = field(default_factory=list)
    at: int = -1  # this path's last step in its question's SearchTree (-1: the root)

    def value(self, agg: str) -> float:
        if agg == "last":
            return self.scores[-1]
        if agg == "min":
            return min(self.scores)
        return math.prod(self.scores)


class SearchTree:
    """Every step a search scored, per question, for the record (the report draws it): the step's text,
    its score, its parent, whether it was kept (beam) or expanded (REBASE), whether it finished, and
    whether it is on the path the answer came from. Indices only: no node (nor its KV cache) is kept."""

    def __init__(self, n_questions: int):
        self.nodes: list[list[dict]] = [[] for _ in range(n_questions)]

    def add(self, policy, parent: Path, node: Node, score: float) -> int:
        steps = self.nodes[parent.q]
        steps.append({"id": len(steps), "parent": parent.at, "depth": len(parent.scores), "text": policy.step_text(node),
                      "score": round(float(score), 4), "done": node.done, "kept": False, "chosen": False})  # fmt: skip
        return len(steps) - 1

    def mark(self, paths: list[Path], key: str) -> None:
        for p in paths:
            if p.at >= 0:
                self.nodes[p.q][p.at][key] = True

    def choose(self, path: Path) -> None:
        """Mark the steps from the root to `path`'s last one as the chosen path."""
        i, steps = path.at, self.nodes[path.q]
        while i >= 0:
            steps[i]["chosen"] = True
            i = steps[i]["parent"]


def _grown(
    ctx, parents: list[Path], kids: list[Node], values: list[float], tree: SearchTree | None
) -> list[Path]:
    out = []
    for k, p, v in zip(kids, parents, values, strict=True):
        at = tree.add(ctx.policy, p, k, v) if tree is not None else -1
        out.append(Path(k, p.q, p.scores + [v], at))
    return out


def allocate(scores: list[float], width: int, temperature: float) -> list[int]:
    """Children per node in proportion to softmax(score / T), summing to `width` exactly."""
    if temperature <= 0:
        raise ConfigError(f"--rebase-temperature must be > 0, got {temperature}")
    if not scores or width <= 0:
        return [0] * len(scores)
    top = max(scores)
    weights = [math.exp((s - top) / temperature) for s in scores]
    raw = [width * w / sum(weights) for w in weights]
    counts = [math.floor(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (raw[i] - counts[i], scores[i]), reverse=True)
    for i in by_remainder[: width - sum(counts)]:
        counts[i] += 1
    return counts


def _grow(ctx, items, parents: list[Path], computes, depth: int, lookahead: int = 0, tree=None) -> list[Path]:
    """Expand each parent by one step and score the new steps (with lookahead rollouts if asked)."""
    if not parents:
        return []
    owners = [p.q for p in parents]
    seeds = [ctx.args.seed * 104_729 + 7_919 * depth + 31 * j + p.q for j, p in enumerate(parents)]
    kids = ctx.policy.expand([p.node for p in parents], owners, computes, "step", seeds)
    scored = kids
    for _ in range(lookahead):
        idx = [j for j, n in enumerate(scored) if not n.done]
        if not idx:
            break
        ahead = ctx.policy.expand([scored[j] for j in idx], [owners[j] for j in idx], computes, "step",
                                  [0] * len(idx), temperature=0.0)  # fmt: skip
        scored = list(scored)
        for j, n in zip(idx, ahead, strict=True):
            scored[j] = n
    values = ctx.score([items[q].question for q in owners], scored, owners, computes)
    return _grown(ctx, parents, kids, values, tree)


def _finish(ctx, items, paths: list[Path], computes, tree=None) -> list[Path]:
    """Answer unfinished paths (the search ran out of candidates before enough finished)."""
    if not paths:
        return []
    kids = ctx.policy.expand([p.node for p in paths], [p.q for p in paths], computes, "done", [0] * len(paths),
                             force_answer=True, temperature=0.0)  # fmt: skip
    values = ctx.score([items[p.q].question for p in paths], kids, [p.q for p in paths], computes)
    return _grown(ctx, paths, kids, values, tree)


def _first_steps(
    ctx, items, n: int, lookahead: int, name: str, tree=None
) -> tuple[list[Compute], list[Path]]:
    """Every question read once and expanded into `n` scored first steps: how both searches start."""
    if ctx.verifier is None:
        raise ConfigError(f"{name} needs a verifier (--verifier)")
    computes = [Compute() for _ in items]
    roots = ctx.policy.roots(items, computes)
    first = [Path(roots[q], q) for q in range(len(items)) for _ in range(n)]
    return computes, _grow(ctx, items, first, computes, 0, lookahead, tree)


def _best_unfinished(paths: list[Path], finished: list[list[Path]], key) -> list[Path]:
    """For each question with no finished path: its best unfinished one (to be answered)."""
    best: dict[int, Path] = {}
    for p in paths:
        if not finished[p.q] and (p.q not in best or key(p) > key(best[p.q])):
            best[p.q] = p
    return list(best.values())


def beam_search(ctx, items, setting) -> list[dict]:
    n, width, agg = int(setting["n"]), int(setting["width"]), setting.get("agg", "last")
    lookahead = int(setting.get("lookahead", 0))
    if width < 1 or n % width or agg not in AGGREGATES:
        raise ConfigError(
            f"beam search needs n divisible by width and agg in {AGGREGATES}: n={n} width={width} agg={agg}"
        )
    tree = SearchTree(len(items))
    computes, frontier = _first_steps(ctx, items, n, lookahead, "beam_search", tree)
    finished: list[list[Path]] = [[] for _ in items]
    trace: list[list] = [[] for _ in items]
    for depth in range(1, ctx.args.max_depth + 1):
        keep: list[Path] = []
        for q in range(len(items)):
            mine = [p for p in frontier if p.q == q]
            finished[q] += [p for p in mine if p.node.done]
            live = sorted((p for p in mine if not p.node.done), key=lambda p: p.value(agg), reverse=True)
            kept = live[: n // width] if len(finished[q]) < n else []
            trace[q].append({"candidates": len(mine), "kept": len(kept), "finished": len(finished[q])})
            keep += kept
        tree.mark(keep, "kept")
        if not keep:
            break
        frontier = _grow(
            ctx, items, [p for p in keep for _ in range(width)], computes, depth, lookahead, tree
        )
    else:
        keep = [p for p in frontier if not p.node.done]
        for p in frontier:
            if p.node.done:
                finished[p.q].append(p)
    for p in _finish(ctx, items, _best_unfinished(keep, finished, lambda p: p.value(agg)), computes, tree):
        finished[p.q].append(p)
    out = []
    for q, it in enumerate(items):
        best = max(finished[q], key=lambda p: p.value(agg)) if finished[q] else None
        answer = ctx.policy.answer(best.node, it.choices) if best else None
        if best is not None:
            tree.choose(best)
        label = f"beam N={n} M={width} {agg}" + (f" la={lookahead}" if lookahead else "")
        out.append(ctx.record("beam_search", label, n, it, answer, computes[q],
                              {"trace": trace[q], "tree": tree.nodes[q]}))  # fmt: skip
    return out


def rebase(ctx, items, setting) -> list[dict]:
    width, temperature = int(setting["width"]), float(setting.get("temperature", 0.2))
    tree = SearchTree(len(items))
    computes, frontier = _first_steps(ctx, items, width, 0, "rebase", tree)
    finished: list[list[Path]] = [[] for _ in items]
    trace: list[list] = [[] for _ in items]
    live: list[Path] = []
    for depth in range(1, ctx.args.max_depth + 1):
        parents: list[Path] = []
        for q in range(len(items)):
            mine = [p for p in frontier if p.q == q]
            finished[q] += [p for p in mine if p.node.done]
            live_q = [p for p in mine if not p.node.done]
            counts = allocate([p.scores[-1] for p in live_q], width - len(finished[q]), temperature)
            trace[q].append({"nodes": len(live_q), "children": counts, "finished": len(finished[q])})
            parents += [p for p, c in zip(live_q, counts, strict=True) for _ in range(c)]
        live = parents
        tree.mark(parents, "kept")
        if not parents:
            break
        frontier = _grow(ctx, items, parents, computes, depth, tree=tree)
    else:
        live = [p for p in frontier if not p.node.done]
        for p in frontier:
            if p.node.done:
                finished[p.q].append(p)
    for p in _finish(ctx, items, _best_unfinished(live, finished, lambda p: p.scores[-1]), computes, tree):
        finished[p.q].append(p)
    out = []
    for q, it in enumerate(items):
        paths = finished[q]
        answers = [ctx.policy.answer(p.node, it.choices) for p in paths]
        answer = vote(answers, [p.scores[-1] for p in paths])[0]
        for p, a in zip(paths, answers, strict=True):  # the weighted vote's answer: every path that gave it
            if a == answer and answer is not None:
                tree.choose(p)
        out.append(ctx.record("rebase", f"rebase W={width} T={temperature:g}", width, it, answer, computes[q],
                              {"trace": trace[q], "tree": tree.nodes[q]}))  # fmt: skip
    return out
