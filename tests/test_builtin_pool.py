"""The built-in pool: exact answers, 10 domains x 4 levels, a test split disjoint by construction."""

from __future__ import annotations

import re
from fractions import Fraction
from math import comb, gcd

import pytest

from thinkscale.data.builtin.pool import GENERATORS, LEVELS, build_pool, normalise_question
from thinkscale.data.builtin.traces import TraceStyle


@pytest.fixture(scope="module")
def pool():
    return build_pool(seed=3, train_per_level=12, test_per_level=4)


def test_every_domain_and_level_is_filled(pool):
    train, test = pool
    assert len(GENERATORS) >= 10
    for rows, per in ((train, 12), (test, 4)):
        cells = {(r["domain"], r["level"]) for r in rows}
        assert cells == {(d, lv) for d in GENERATORS for lv in LEVELS}
        assert len(rows) == per * len(cells)


def test_split_is_disjoint_in_questions(pool):
    train, test = pool
    assert not {normalise_question(r["question"]) for r in train} & {
        normalise_question(r["question"]) for r in test
    }
    # the split is a function of the parameters: another seed never moves a problem across it
    train2, test2 = build_pool(seed=11, train_per_level=12, test_per_level=4)
    assert not {r["id"] for r in train} & {r["id"] for r in test2}
    assert not {r["id"] for r in test} & {r["id"] for r in train2}


def test_same_seed_same_pool_other_seed_other_pool(pool):
    assert build_pool(seed=3, train_per_level=12, test_per_level=4) == pool
    assert build_pool(seed=4, train_per_level=12, test_per_level=4)[0] != pool[0]


def _independent_answer(row):
    """Solve some domains again from the question text alone, without the generator's code."""
    q, lv = row["question"], row["level"]
    nums = [int(n) for n in re.findall(r"-?\d+", q)]
    if row["domain"] == "arithmetic":
        return Fraction(eval(q.removeprefix("Compute ").rstrip(".")))  # noqa: S307 - our own generated text
    if row["domain"] == "linear_equations":
        import sympy

        lhs, rhs = q.removeprefix("Solve for x: ").rstrip(".").split("=")
        x = sympy.Symbol("x")
        expr = sympy.sympify(re.sub(r"(\d)([x(])", r"\1*\2", lhs)) - sympy.sympify(
            re.sub(r"(\d)([x(])", r"\1*\2", rhs)
        )
        return Fraction(str(sympy.solve(expr, x)[0]))
    if row["domain"] == "number_theory" and lv == 2:
        return Fraction(gcd(nums[0], nums[1]))
    if row["domain"] == "number_theory" and lv == 4:
        return Fraction(pow(nums[0], nums[1], nums[2]))
    if row["domain"] == "combinatorics" and lv == 3:
        k, n = (nums[0], nums[1]) if "subsets" not in q else (nums[0], nums[1])
        return Fraction(comb(max(k, n), min(k, n)))
    return None


def test_answers_are_exact(pool):
    checked = 0
    for row in pool[0] + pool[1]:
        want = _independent_answer(row)
        if want is not None:
            assert Fraction(row["answer"]) == want, row
            checked += 1
        assert row["reasoning"].rstrip().endswith(f"So the answer is {row['answer']}.")
    assert checked >= 150


def test_traces_verify_and_catch_slips():
    train, _ = build_pool(seed=0, train_per_level=10, test_per_level=0, style=TraceStyle(0.5, 0.5))
    verified = [r for r in train if "Wait, let me verify:" in r["reasoning"]]
    slipped = [r for r in train if r["meta"]["slip"]]
    assert 0.35 < len(verified) / len(train) < 0.65
    assert 0.35 < len(slipped) / len(train) < 0.65
    for r in slipped:  # the wrong value is shown, then caught on the next line with the right one
        lines = r["reasoning"].splitlines()
        i = next(i for i, line in enumerate(lines) if line.startswith("Wait, that's not right:"))
        m = re.search(r"is (\S+), not (\S+)\.$", lines[i])
        assert lines[i - 1].endswith(f"= {m.group(2)}.") and m.group(1) != m.group(2)


def test_bad_sizes_and_domains_are_named():
    with pytest.raises(ValueError, match="--builtin-domains"):
        build_pool(domains=["astrology"])
    with pytest.raises(ValueError, match="distinct problems"):
        build_pool(train_per_level=1000, test_per_level=0, domains=["probability"])
