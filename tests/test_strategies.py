"""Strategy logic on a scripted policy: stop rules, fallbacks, aggregation, search bookkeeping, compute."""

import pytest

from tests.fake_policy import STEP_TOKENS, FakePolicy, FakeVerifier, context, items
from thinkscale.eval.compute import Compute, flops
from thinkscale.eval.strategies.answers import vote
from thinkscale.eval.strategies.parallel import best_of_n, majority, powers
from thinkscale.eval.strategies.search import allocate, beam_search, rebase
from thinkscale.eval.strategies.sequential import adaptive_vote, budget_forcing, fallback, sequential_vote


def test_sv_stops_as_soon_as_m_trials_agree():
    trials = {0: ["3", "5", "3", "9", "9"], 1: ["7", "7", "1", "1", "1"]}
    ctx = context(FakePolicy(trials))
    recs = sequential_vote(ctx, items(2, gold="3"), {"trials": 5, "agree": 2})
    assert [r["trials"] for r in recs] == [3, 2]  # q0 agrees at trial 3 (3, 5, 3); q1 at trial 2
    assert [r["answer"] for r in recs] == ["3", "7"]
    assert recs[0]["correct"] and not recs[1]["correct"]
    # compute: one model call and STEP_TOKENS per trial, the prompt once
    assert [r["model_calls"] for r in recs] == [3, 2]
    assert [r["generated_tokens"] for r in recs] == [3 * STEP_TOKENS, 2 * STEP_TOKENS]
    assert [r["prompt_tokens"] for r in recs] == [10, 10]


def test_sv_without_consensus_falls_back_to_the_most_plausible_trial():
    ctx = context(FakePolicy({0: ["1", "2", "2", "4"], 1: ["1", "2", "3", "4"]}))
    recs = sequential_vote(ctx, items(2), {"trials": 4, "agree": 3})
    assert [r["trials"] for r in recs] == [4, 4]
    assert recs[0]["answer"] == "2"  # the most frequent
    assert recs[1]["answer"] == "1"  # all tied, no verifier: the earliest
    # with a verifier, a tie goes to the best-scored trial
    assert fallback(["1", "2", "3"], [0.2, 0.9, 0.5]) == "2"
    assert fallback(["1", "2", "2", "1"], [0.1, 0.3, 0.3, 0.9]) == "1"
    assert fallback([None, None], [None, None]) is None


def test_sv_trial_cut_by_the_thinking_cap_ends_the_response():
    ctx = context(FakePolicy({0: ["1", "CAP", "1", "1"]}))
    (rec,) = sequential_vote(ctx, items(1), {"trials": 4, "agree": 2})
    assert rec["trials"] == 2 and rec["answer"] == "1"
    assert ctx.policy.thinking_caps == [400, 400]  # one response holds K trials: K x the single cap


def test_sv_rejects_impossible_settings():
    with pytest.raises(ValueError, match="agree"):
        sequential_vote(context(FakePolicy({})), items(1), {"trials": 2, "agree": 3})


def test_asv_answers_easy_questions_once_and_runs_sv_on_hard_ones():
    trials = {0: ["1", "2", "2"], 1: ["1", "2", "2"]}
    ctx = context(FakePolicy(trials, easy={0: True}))
    recs = adaptive_vote(ctx, items(2), {"trials": 3, "agree": 2, "judge": "self"})
    assert [r["trials"] for r in recs] == [1, 3]
    assert [r["answer"] for r in recs] == ["1", "2"]
    assert recs[0]["prompt_tokens"] == 22  # the judge's prompt read is charged
    # verifier judge: the first trial's score decides
    ver = FakeVerifier(lambda n: 0.9 if n.q == 1 else 0.1)
    recs = adaptive_vote(context(FakePolicy(trials), ver, asv_threshold=0.5), items(2),
                         {"trials": 3, "agree": 2, "judge": "verifier"})  # fmt: skip
    assert [r["trials"] for r in recs] == [3, 1]
    assert [r["verifier_calls"] for r in recs] == [3, 1]


def test_weighted_best_of_n_sums_scores_per_equivalent_answer():
    assert vote(["1/2", "3", "0.5", "3"], [0.4, 0.3, 0.4, 0.3])[0] == "1/2"  # 0.8 (1/2 = 0.5) > 0.6
    assert vote(["1/2", "3", "0.5", "3"])[0] == "1/2"  # 2 vs 2: the earlier cluster
    assert vote(["7", "3", "3"], [0.9, 0.3, 0.3])[0] == "7"
    assert vote([None, None]) == (None, 0.0)


def test_majority_and_best_of_n_share_one_sample_set_and_charge_k_samples():
    answers = {0: "a1", 1: "a0", 2: "a0", 3: "a2", 4: "a1", 5: "a2", 6: "a2", 7: "a0"}
    pol = FakePolicy(answer_of=lambda n: answers[n.path[-1] % 8])
    ver = FakeVerifier(lambda n: {"a0": 0.3, "a1": 0.35, "a2": 0.9}[n.answer])
    ctx = context(pol, ver, samples=8)
    maj = {r["label"]: r for r in majority(ctx, items(1), {})}
    bon = {r["label"]: r for r in best_of_n(ctx, items(1), {})}
    assert list(maj) == [f"maj@{k}" for k in powers(8)] == ["maj@1", "maj@2", "maj@4", "maj@8"]
    assert maj["maj@1"]["answer"] == "a1" and maj["maj@4"]["answer"] == "a0"  # a1, a0, a0, a2
    assert maj["maj@8"]["answer"] == "a0"  # a0 x3 ties a2 x3; a0 came first
    assert bon["bon@8"]["answer"] == "a2" and bon["wbon@2"]["answer"] == "a1"
    assert maj["maj@4"]["generated_tokens"] == 4 * STEP_TOKENS and maj["maj@4"]["model_calls"] == 4
    assert bon["bon@4"]["verifier_calls"] == 4 and maj["maj@4"]["verifier_calls"] == 0
    assert ver.calls == 8  # scored once, shared by every k


def test_beam_search_bookkeeping():
    # depth 3 ends every path: 4 first steps, then 2 kept x 2 children at each of two more depths
    ver = FakeVerifier(lambda n: 1.0 / (1 + sum(n.path)))
    (rec,) = beam_search(context(FakePolicy(depth=3), ver), items(1), {"n": 4, "width": 2, "agg": "last"})
    trace = rec["trace"]
    assert trace[0] == {"candidates": 4, "kept": 2, "finished": 0}
    assert trace[1] == {"candidates": 4, "kept": 2, "finished": 0}
    assert trace[2]["candidates"] == 4 and trace[2]["finished"] == 4 and trace[2]["kept"] == 0
    assert rec["model_calls"] == 12 and rec["generated_tokens"] == 12 * STEP_TOKENS
    assert rec["verifier_calls"] == 12
    # The tree the report draws: every scored step, 2 kept per depth, the answer's path from the root.
    tree = rec["tree"]
    assert len(tree) == 12 and [n["depth"] for n in tree] == [0] * 4 + [1] * 4 + [2] * 4
    assert [sum(n["kept"] for n in tree if n["depth"] == d) for d in (0, 1, 2)] == [2, 2, 0]
    assert all(
        tree[n["parent"]]["kept"] for n in tree if n["parent"] >= 0
    )  # children come from kept steps only
    chosen = [n for n in tree if n["chosen"]]
    assert [n["depth"] for n in chosen] == [0, 1, 2] and chosen[-1]["done"]
    assert chosen[1]["parent"] == chosen[0]["id"] and chosen[2]["parent"] == chosen[1]["id"]
    best = max((n for n in tree if n["done"]), key=lambda n: n["score"])
    assert chosen[-1]["score"] == best["score"]


def test_beam_search_answers_with_the_best_scored_finished_path():
    ver = FakeVerifier(lambda n: 0.9 if n.answer == "a1" else (0.5 if n.answer else 0.4))
    pol = FakePolicy(depth=2, answer_of=lambda n: "a1" if n.path[-1] % 3 == 1 else "a2")
    (rec,) = beam_search(context(pol, ver), items(1, gold="a1"), {"n": 6, "width": 3, "agg": "last"})
    assert rec["answer"] == "a1" and rec["correct"]


def test_beam_search_lookahead_pays_for_its_rollouts():
    ver = FakeVerifier(lambda n: 0.5)
    pol = FakePolicy(depth=3)
    (plain,) = beam_search(context(pol, ver), items(1), {"n": 2, "width": 1, "agg": "last"})
    (ahead,) = beam_search(context(pol, ver), items(1), {"n": 2, "width": 1, "agg": "last", "lookahead": 1})
    assert ahead["generated_tokens"] > plain["generated_tokens"]
    with pytest.raises(ValueError, match="divisible"):
        beam_search(context(pol, ver), items(1), {"n": 5, "width": 2})


@pytest.mark.parametrize("width", [1, 4, 7, 16, 33])
def test_rebase_allocation_sums_to_the_width(width):
    import random

    rng = random.Random(width)
    for _ in range(50):
        scores = [rng.random() for _ in range(rng.randint(1, 9))]
        counts = allocate(scores, width, temperature=rng.choice([0.05, 0.2, 1.0, 5.0]))
        assert sum(counts) == width and all(c >= 0 for c in counts)
    counts = allocate([0.9, 0.1, 0.5], 10, temperature=0.5)  # 6.06, 1.21, 2.72 before rounding
    assert counts[0] > counts[2] > counts[1]  # more children to better nodes
    assert allocate([0.3, 0.3], 4, temperature=1.0) == [2, 2]
    assert allocate([0.9, 0.1], 0, 1.0) == [0, 0]


def test_rebase_spends_exactly_the_width_on_finished_paths():
    ver = FakeVerifier(lambda n: 0.2 + 0.1 * (n.path[-1] % 5))
    pol = FakePolicy(depth=3)
    (rec,) = rebase(context(pol, ver), items(1), {"width": 6, "temperature": 0.2})
    assert all(sum(t["children"]) == 6 - t["finished"] for t in rec["trace"])
    assert rec["trace"][-1]["finished"] == 6
    tree = rec["tree"]
    assert sum(n["done"] for n in tree) == 6 and any(n["chosen"] and n["done"] for n in tree)
    assert all(isinstance(n["text"], str) and 0 <= n["score"] <= 1 for n in tree)


def test_budget_forcing_strategy_charges_one_call():
    pol = FakePolicy(depth=1)
    (rec,) = budget_forcing(context(pol), items(1), {"budget": 32})
    assert rec["label"] == "bf@32" and rec["model_calls"] == 1 and rec["prompt_tokens"] == 10


def test_compute_counters_add_and_flops():
    a = Compute(generated_tokens=10, prompt_tokens=5, model_calls=1)
    a += Compute(generated_tokens=2, verifier_calls=3, verifier_tokens=7)
    assert a.to_dict() == {"generated_tokens": 12, "prompt_tokens": 5, "model_calls": 1,
                           "verifier_calls": 3, "verifier_tokens": 7}  # fmt: skip
    assert flops(a, 100.0, 10.0) == 2 * 100 * 17 + 2 * 10 * 7


def test_path_score_aggregation():
    from thinkscale.eval.strategies.search import Path

    p = Path(node=None, q=0, scores=[0.9, 0.5, 0.8])
    assert p.value("last") == 0.8 and p.value("min") == 0.5 and abs(p.value("product") - 0.36) < 1e-12


def test_equal_paths_are_read_once_share_their_score_and_are_each_charged():
    """`Context.score`: two nodes that are the same path of the same question (greedy beams) are read
    once and get one score, so they rank equal; each is still charged what its read costs."""
    from thinkscale.inference.hf.tree import Node

    class Reader:  # a score per read, never the same twice: equal scores can only come from sharing
        params, reads = 0.0, []

        def score(self, policy, questions, nodes, owners, computes):
            self.reads.append(len(nodes))
            for q, n in zip(owners, nodes, strict=True):
                computes[q].verifier_calls += 1
                computes[q].verifier_tokens += len(n.ids)
            return [len(self.reads) + k / 10 for k in range(len(nodes))]

    same, other = Node(ids=[1, 2, 3], prompt_tokens=1), Node(ids=[1, 2, 4], prompt_tokens=1)
    twin = Node(ids=[1, 2, 3], prompt_tokens=1)
    ctx = context(FakePolicy(), Reader())
    computes = [Compute(), Compute()]
    scores = ctx.score(["q0", "q0", "q0", "q1"], [same, other, twin, same], [0, 0, 0, 1], computes)
    assert ctx.verifier.reads == [3]  # q0's path, q0's other path, q1's path (another question)
    assert scores[0] == scores[2] and len({scores[0], scores[1], scores[3]}) == 3
    assert computes[0].verifier_calls == 3 and computes[0].verifier_tokens == 9
    assert computes[1].verifier_calls == 1 and computes[1].verifier_tokens == 3
