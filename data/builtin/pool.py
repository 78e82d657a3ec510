"""The built-in reasoning pool: seeded math problems in 10 domains x 4 levels, with a clean test split.

    from thinkscale.data.builtin.pool import build_pool
    train_rows, test_rows = build_pool(seed=0, train_per_level=30, test_per_level=5)

The split is made on each problem's parameters, not drawn at random: a stable hash of
(domain, level, parameters) sends a problem to test or to train, so no parameter tuple — hence no
question — can appear on both sides, whatever the seed or sizes. Questions are also checked for
exact (normalised) duplicates across and within the splits. Template problems share long word runs,
so an 8-gram test against this split would flag nearly every row; disjoint parameters are the right
test here (the curation's 8-gram decontamination runs against external benchmarks and Hub pools).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable

from thinkscale.common.errors import ConfigError
from thinkscale.data.builtin.algebra import gen_linear, gen_sequences, gen_systems
from thinkscale.data.builtin.arithmetic import gen_arithmetic, gen_fractions, gen_word_units
from thinkscale.data.builtin.counting import gen_combinatorics, gen_number_theory, gen_probability
from thinkscale.data.builtin.geometry import gen_geometry
from thinkscale.data.builtin.problem import Problem
from thinkscale.data.builtin.traces import TraceStyle, write_trace

GENERATORS: dict[str, Callable[[random.Random, int], Problem]] = {
    "arithmetic": gen_arithmetic,
    "fractions_percent": gen_fractions,
    "linear_equations": gen_linear,
    "systems": gen_systems,
    "number_theory": gen_number_theory,
    "combinatorics": gen_combinatorics,
    "probability": gen_probability,
    "sequences": gen_sequences,
    "geometry": gen_geometry,
    "word_problems": gen_word_units,
}
LEVELS = (1, 2, 3, 4)
TEST_SHARE_PERMILLE = 200  # share of parameter space reserved for test (quota-limited)


def _key(p: Problem) -> str:
    return f"{p.domain}|{p.level}|{p.params!r}"


def split_of(p: Problem) -> str:
    """'test' or 'train', a pure function of the problem's parameters."""
    h = int(hashlib.blake2b(_key(p).encode(), digest_size=8).hexdigest(), 16)
    return "test" if h % 1000 < TEST_SHARE_PERMILLE else "train"


def normalise_question(q: str) -> str:
    return re.sub(r"\s+", " ", q.strip().lower())


def _row(p: Problem, rng: random.Random, style: TraceStyle) -> dict:
    reasoning, flags = write_trace(p, rng, style)
    uid = hashlib.blake2b(_key(p).encode(), digest_size=6).hexdigest()
    return {
        "id": f"builtin-{p.domain}-{p.level}-{uid}", "question": p.question, "reasoning": reasoning,
        "answer": p.answer_text, "gold": p.answer_text, "domain": p.domain, "level": p.level,
        "source": "builtin", "meta": flags,
    }  # fmt: skip


def build_pool(
    seed: int = 0,
    train_per_level: int = 30,
    test_per_level: int = 5,
    style: TraceStyle | None = None,
    domains: list[str] | None = None,
) -> tuple[list[dict], list[dict]]:
    """(train candidates, test rows): `*_per_level` problems for each domain and level."""
    style = style or TraceStyle()
    domains = domains or list(GENERATORS)
    unknown = [d for d in domains if d not in GENERATORS]
    if unknown:
        raise ConfigError(f"--builtin-domains: unknown domain(s) {unknown}; known: {', '.join(GENERATORS)}")
    if train_per_level < 0 or test_per_level < 0:
        raise ConfigError("--builtin-train-per-level and --builtin-test-per-level must be >= 0")
    train, test, seen = [], [], set()
    for domain in domains:
        for level in LEVELS:
            # One generator per (seed, domain, level): changing one domain's size leaves the others alone.
            rng = random.Random(f"{seed}|{domain}|{level}")
            quota = {"train": train_per_level, "test": test_per_level}
            got = {"train": 0, "test": 0}
            for _ in range(50 * (train_per_level + test_per_level) + 2000):
                if got == quota:
                    break
                p = GENERATORS[domain](rng, level)
                side, q = split_of(p), normalise_question(p.question)
                if got[side] >= quota[side] or q in seen:
                    continue
                seen.add(q)
                got[side] += 1
                (train if side == "train" else test).append(_row(p, rng, style))
            if got != quota:
                raise ConfigError(
                    f"built-in pool: domain {domain!r} level {level} has only {got['train']} train / "
                    f"{got['test']} test distinct problems; lower --builtin-train-per-level / --builtin-test-per-level"
                )
    return train, test
