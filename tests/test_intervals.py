"""95% intervals: Wilson against known values, the question bootstrap, and the report's use of both."""

from __future__ import annotations

import pytest

from thinkscale.eval.intervals import bootstrap, mean_interval, paired_gain, per_question_mean, wilson
from thinkscale.eval.report import method_metrics, summary_markdown


def test_wilson_matches_the_textbook_values():
    # Wilson 95% for 7/30 (AIME-sized): 0.1179 .. 0.4093; for 0/30 the upper end is 0.1135.
    assert wilson(7, 30) == pytest.approx((0.1179, 0.4093), abs=1e-4)
    lo, hi = wilson(0, 30)
    assert lo == 0.0 and hi == pytest.approx(0.1135, abs=1e-4)
    with pytest.raises(ValueError):
        wilson(0, 0)


def test_bootstrap_is_seeded_and_covers_the_mean():
    by_q = {q: float(q % 3 == 0) for q in range(60)}
    a = bootstrap([by_q], lambda cols: float(cols[0].mean()))
    assert a == bootstrap([by_q], lambda cols: float(cols[0].mean()))  # same data, same interval
    assert a[0] < sum(by_q.values()) / 60 < a[1]
    assert (
        bootstrap([{1: 1.0}], lambda cols: float(cols[0].mean())) is None
    )  # one question: nothing to resample


def test_paired_gain_is_narrower_than_two_separate_intervals():
    # The second run is right on every question the first was, and on 6 more of 60: the paired
    # interval excludes 0, although the two accuracies' own intervals overlap.
    base = {q: float(q < 20) for q in range(60)}
    other = {q: float(q < 26) for q in range(60)}
    gain, (lo, hi) = paired_gain(base, other)
    assert gain == pytest.approx(0.1)
    assert 0 < lo <= gain <= hi
    assert wilson(26, 60)[0] < wilson(20, 60)[1]


def _sample(qid, point, correct, thinking, k=0, method="budget_forcing"):
    return {"label": method, "method": method, "budget": point, "id": qid, "correct": correct, "sample": k,
            "thinking_tokens": thinking, "tries": 1, "think_end_reason": "forced", "answer": "x",
            "extracted": "1"}  # fmt: skip


def test_pass_at_1_over_n_samples_is_a_mean_of_question_means():
    # 4 samples per question; question q is right in q of them (q = 0..4 over 5 questions, 10 copies).
    rows = [_sample(f"{q}-{c}", 16, k < q, 16, k) for q in range(5) for c in range(10) for k in range(4)]
    m = method_metrics(rows, [16])["budget_forcing"]["points"][0]
    assert m["n"] == 50 and m["samples_per_question"] == 4
    assert m["accuracy"] == pytest.approx(sum(min(q, 4) / 4 for q in range(5)) / 5)
    assert m["ci95"][0] < m["accuracy"] < m["ci95"][1]
    assert per_question_mean(rows)["3-0"] == 0.75
    # One sample per question is a 0/1 share: Wilson.
    one = method_metrics([_sample(q, 16, q < 7, 16) for q in range(30)], [16])["budget_forcing"]["points"][0]
    assert one["ci95"] == [round(v, 4) for v in wilson(7, 30)]
    assert mean_interval({q: float(q < 7) for q in range(30)}) == wilson(7, 30)


def test_scaling_and_gain_carry_intervals_in_the_summary():
    rows = [_sample(q, b, q < k, b) for b, k in ((16, 5), (32, 12), (64, 20)) for q in range(40)]
    m = method_metrics(rows, [16, 32, 64])["budget_forcing"]
    lo, hi = m["scaling_ci95"]
    assert lo <= m["scaling"] <= hi
    assert m["gain"] == pytest.approx(15 / 40) and m["gain_ci95"][0] > 0
    text = summary_markdown({"budget_forcing": m}, "t")
    assert "+37.5 [" in text and "16 → 12.5 [" in text


def test_rejection_sampling_reports_tries_and_the_cap():
    rows = [dict(_sample(q, 16, False, 40 if q < 3 else 10, method="rejection_sampling"), tries=4 if q < 3 else 1)
            for q in range(10)]  # fmt: skip
    m = method_metrics(rows, [16])["rejection_sampling"]
    p = m["points"][0]
    assert p["max_tries"] == 4 and p["unfit"] == 0.3 and p["mean_tries"] == pytest.approx(1.9)
    assert "16 → 1.90 / 4 / 30%" in summary_markdown({"rejection_sampling": m}, "t")
