"""The IBPO selection program: exact budget, maximal reward (against brute force), length groups."""

import itertools
import random

import pytest

from thinkscale.common.trials import SEPARATOR, is_extended, join_trials, split_trials
from thinkscale.ibpo.groups import length_group
from thinkscale.ibpo.select import feasible, objective, select


def brute_force(rewards, extended, groups, q, cap, tokens):
    best = None
    for chosen in itertools.product([False, True], repeat=len(rewards)):
        if feasible(chosen, rewards, extended, groups, q, cap):
            v = objective(chosen, rewards, tokens)
            best = v if best is None else max(best, v)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_selection_matches_brute_force_and_respects_the_budget(seed):
    rng = random.Random(seed)
    n = rng.randint(4, 11)
    rewards = [rng.random() < 0.6 for _ in range(n)]
    extended = [rng.random() < 0.5 for _ in range(n)]
    groups = [rng.randint(0, 3) for _ in range(n)]
    tokens = [rng.randint(20, 400) for _ in range(n)]
    q, cap = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]), rng.choice([None, 1, 2])
    chosen = select(rewards, extended, groups, q, cap, tokens)
    assert feasible(chosen, rewards, extended, groups, q, cap)
    picked = [i for i, c in enumerate(chosen) if c]
    assert sum(extended[i] for i in picked) <= q * len(picked)  # the budget holds exactly, no slack
    assert objective(chosen, rewards, tokens) == pytest.approx(
        brute_force(rewards, extended, groups, q, cap, tokens)
    )


def test_hand_made_batch_spends_long_slots_on_the_hard_question():
    # question 0 (easy): right short and right long answers; question 1 (hard): only long ones are right
    rewards = [1, 1, 1, 0, 1, 1]
    extended = [False, True, True, False, True, True]
    groups = [0, 0, 0, 1, 1, 1]
    tokens = [50, 300, 320, 60, 310, 330]
    chosen = select(rewards, extended, groups, q=0.5, per_question=1, tokens=tokens)
    assert chosen == [True, False, False, False, True, False]  # short for the easy one, long for the hard one
    # a budget of zero long answers keeps only the short right one
    assert select(rewards, extended, groups, q=0.0, per_question=1, tokens=tokens) == [True] + [False] * 5
    with pytest.raises(ValueError, match="one entry per response"):
        select([1, 0], [True], [0, 0], 0.5)
    with pytest.raises(ValueError, match="q must be"):
        select([1], [True], [0], 1.5)


def test_length_groups_by_format_and_by_tokens():
    two = join_trials(["x = 2.\nSo the answer is 2.", "x = 2.\nSo the answer is 2."])
    assert SEPARATOR.strip() in two and split_trials(two) == ["x = 2.\nSo the answer is 2."] * 2
    assert is_extended(two) and not is_extended("x = 2.\nSo the answer is 2.")
    assert split_trials(" a \n  Wait, let me solve it again from the start.  \n b") == ["a", "b"]
    assert length_group(two, 40, "format", 200) == "extended"
    assert length_group("short", 40, "format", 200) == "standard"
    assert length_group("short", 250, "tokens", 200) == "extended"
    with pytest.raises(ValueError, match="group-by"):
        length_group("x", 1, "vibes", 200)
