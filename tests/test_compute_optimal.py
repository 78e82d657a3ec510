"""Difficulty levels, compute-optimal selection on synthetic records, and the verifier's AUROC/head."""

import torch

from thinkscale.eval.strategies.optimal import apply, best_label, choose, difficulty_levels
from thinkscale.eval.verifier.head import ValueHead, auroc


def test_difficulty_levels_split_by_quantiles_easiest_first():
    ease = {f"q{i}": i / 9 for i in range(10)}  # q9 easiest
    levels, edges = difficulty_levels(ease)
    assert levels["q9"] == 1 and levels["q0"] == 5
    assert sorted(levels.values()) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # the validation edges carry over to new questions
    new, _ = difficulty_levels({"a": 1.0, "b": -1.0, "c": ease["q5"]}, edges)
    assert new == {"a": 1, "b": 5, "c": 3}


def _records(label, tokens, right_ids, ids):
    return [{"label": label, "id": q, "correct": q in right_ids, "generated_tokens": tokens} for q in ids]


def test_compute_optimal_picks_per_level_under_the_budget():
    easy, hard = ["e1", "e2"], ["h1", "h2"]
    ids = easy + hard
    recs = (_records("cheap", 10, {"e1", "e2"}, ids)              # easy questions: the cheap strategy suffices
            + _records("search", 100, {"e1", "h1", "h2"}, ids)    # hard ones need the expensive one
            + _records("wbon@4", 100, {"e1", "e2", "h1"}, ids))  # fmt: skip
    levels = {"e1": 1, "e2": 1, "h1": 5, "h2": 5}
    policy = choose(recs, levels, budgets=[10, 100])
    assert policy[(1, 10)] == "cheap" and policy[(5, 10)] == "cheap"  # nothing else fits 10 tokens
    assert policy[(1, 100)] == "cheap"  # ties on accuracy with wbon@4 (2/2): the cheaper wins
    assert policy[(5, 100)] == "search"
    acc, tokens = apply(policy, recs, levels, 100)
    assert acc == 1.0 and tokens == (10 + 10 + 100 + 100) / 4
    assert best_label(recs, "wbon@", 100) == "wbon@4" and best_label(recs, "wbon@", 50) is None


def test_every_test_question_counts_when_its_level_got_no_policy():
    # Validation levels {2, 3, 4, 5}; test levels {1, 2, 3, 5}. The two right test answers sit in
    # level 1, which validation never saw: dropping them reported 0.0 where the chosen strategy's
    # true test accuracy is 0.2.
    val_ids = [f"v{i}" for i in range(8)]
    val = _records("only", 10, {"v0"}, val_ids)
    policy = choose(val, {q: 2 + i % 4 for i, q in enumerate(val_ids)}, budgets=[10])
    assert (1, 10) not in policy and policy[(0, 10)] == "only"  # the fallback: chosen on all of validation
    test_ids = [f"t{i}" for i in range(10)]
    test_levels = {q: (1, 1, 2, 2, 3, 3, 5, 5, 5, 5)[i] for i, q in enumerate(test_ids)}
    acc, tokens = apply(policy, _records("only", 10, {"t0", "t1"}, test_ids), test_levels, 10)
    assert acc == 0.2 and tokens == 10


def test_auroc_and_value_head_fit():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.5], [True]) is None
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 16, generator=g)
    y = (x[:, 3] + 0.3 * torch.randn(400, generator=g) > 0).float()
    head = ValueHead.fit(x[:300], y[:300])
    p = head.prob(x[300:])
    assert auroc(p.tolist(), (y[300:] > 0).tolist()) > 0.9
    assert head.weight.abs().argmax() == 3


def test_value_head_round_trips_and_refuses_one_class(tmp_path):
    import pytest

    x = torch.randn(20, 4)
    head = ValueHead.fit(x, (x[:, 0] > 0).float())
    head.save(tmp_path, {"model": "m"})
    again, info = ValueHead.load(tmp_path)
    assert info == {"model": "m"} and torch.allclose(again.prob(x), head.prob(x))
    with pytest.raises(ValueError, match="all correct or all wrong"):
        ValueHead.fit(x, torch.ones(20))
    with pytest.raises(FileNotFoundError, match="train the value head"):
        ValueHead.load(tmp_path / "missing")
