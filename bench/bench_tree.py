"""Step-wise search decoding: the tree decoder's cached prefixes vs re-reading the prefix every step.

    .venv/bin/python -m bench.bench_tree [--questions 4] [--branches 4] [--steps 6]

Workload: a beam-search-shaped expansion on the embedded default (SmolLM2-135M, fp32) — each of
`--questions` built-in-style questions is branched `--branches` times and every path is extended
one step (up to a newline, at most 24 tokens, temperature 0.7) `--steps` times. Ours: `TreeDecoder`
children start from their parent's KV cache. Baseline: what a stateless "extend this text by one
step" API does (a prefix re-encoded from its text at every step, e.g. `generate` with stop strings):
the same decoder, but each step starts with `roots(prompt + path so far)`. Throughput counts the
generated tokens only. Cases alternate after a warm-up, as in every benchmark here.
"""

from __future__ import annotations

import argparse

from bench.harness import Case, compare, table
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.hf.tree import Expansion, TreeDecoder
from thinkscale.inference.models.load import ModelArgs, load_model

QUESTIONS = [
    "Compute (12 + 7) * 3 - 5.",
    "A bag has 3 red and 5 blue marbles. What is the probability a marble drawn is red?",
    "Solve for x: 4x + 7 = 31.",
    "How many ways can 3 books be chosen from 7?",
    "What is the remainder when 2^10 is divided by 7?",
    "A rectangle has sides 6 and 9. What is its area?",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--questions", type=int, default=4)
    p.add_argument("--branches", type=int, default=4)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    model, tok = load_model(ModelArgs(model="smollm2-135m"))
    fmt = FormatArgs()
    tree = TreeDecoder(model, tok, fmt, batch_size=64)
    prompts = [render_prompt(tok, fmt, q) for q in (QUESTIONS * 4)[: a.questions]]
    spec = Expansion(
        until="step", step_delimiter="\n", max_step_tokens=24, max_thinking_tokens=4096, temperature=0.7
    )
    seeds = list(range(a.questions * a.branches))
    counted = {}

    def run(cached: bool) -> None:
        nodes = [r for r in tree.roots(prompts) for _ in range(a.branches)]
        generated = 0
        for step in range(a.steps):
            live = [n for n in nodes if not n.done]
            if not live:
                break
            if not cached:  # re-read each path from its text, as a stateless API must
                live = tree.roots([tok.decode(n.ids, skip_special_tokens=False) for n in live])
            kids = tree.expand(live, spec, [s + 1000 * step for s in seeds[: len(live)]])
            generated += sum(len(k.new_ids) for k in kids)
            nodes = kids
        counted[cached] = generated

    cases = compare([Case("re-read prefix", lambda: run(False)), Case("cached tree", lambda: run(True))],
                    baseline="re-read prefix", repeats=a.repeats)  # fmt: skip
    for c, cached in zip(cases, (False, True), strict=True):
        c.work = counted[cached]
    print(
        f"{a.questions} questions x {a.branches} branches x {a.steps} steps; prompts {len(tok.encode(prompts[0]))}+ tokens"
    )
    print(table(cases, "re-read prefix", unit="generated tokens"))


if __name__ == "__main__":
    main()
