"""s1's Control / Scaling / Performance on hand-computed examples, and Scaling against s1's Table 3."""

from math import log2

import pytest

from thinkscale.eval.metrics import Point, control, s1_metrics, scaling


def test_three_runs_by_hand():
    pts = [Point(100, 0.2, 0, 128), Point(200, 0.3, 0, 256), Point(400, 0.6, 0, 512)]
    m = s1_metrics(pts)
    # slopes in points per doubling: 10 / 1, 40 / 2, 30 / 1 -> mean 20
    assert m.scaling == pytest.approx((10 + 40 / 2 + 30) / 3)
    assert m.control == 1.0 and m.performance == 0.6


def test_control_counts_runs_outside_their_budget():
    pts = [
        Point(130, 0.1, 0, 128),
        Point(90, 0.2, 100, 256),
        Point(300, 0.2, None, None),
        Point(64, 0.3, 64, 64),
    ]
    assert control(pts) == 0.5


def test_scaling_is_order_free_negative_and_undefined_for_one_run():
    pts = [Point(400, 0.1), Point(100, 0.4)]
    assert scaling(pts) == pytest.approx(-30 / 2)
    assert scaling([Point(50, 0.1)]) is None
    with pytest.raises(ValueError):
        control([])


def test_scaling_divides_by_every_pair_as_s1_does():
    # s1, section 3.2: Scaling = 1 / C(|A|, 2) * sum over a, b in A with b > a of (f(b) - f(a)) / (b - a).
    # Two runs with equal compute form a pair that adds nothing to the sum but counts in C(4, 2) = 6.
    pts = [Point(100, 0.2), Point(100, 0.3), Point(200, 0.4), Point(400, 0.4)]
    slopes = [20 / 1, 20 / 2, 10 / 1, 10 / 2, 0.0]
    assert scaling(pts) == pytest.approx(sum(slopes) / 6)
    assert scaling(pts) != pytest.approx(sum(slopes) / 5)  # not the mean over the 5 pairs that differ
    assert scaling([Point(50, 0.1), Point(50, 0.3)]) == 0.0


# s1's appendix (arXiv 2501.19393v3, Tables 12-14; AIME24, 30 questions): each run's measured mean
# thinking tokens and its number of correct answers. Table 3's Scaling for each method.
S1_APPENDIX = {
    "token-conditional": ([7939, 7158, 8263, 7108, 7500], [8, 9, 10, 10, 12], -24, -23.8),
    "token-conditional + BF": ([1024, 2048, 4031, 5664, 6330], [1, 9, 10, 10, 12], 13, 13.2),
    "step-conditional": ([7252, 6277, 5396, 5552, 7551], [10, 7, 10, 11, 10], 3, 2.9),
    "step-conditional + BF": ([1517, 2963, 4636, 5409, 7551], [7, 7, 10, 11, 10], 6, 6.4),
    "class-conditional": ([8033, 9651], [9, 11], 25, 25.2),
}


@pytest.mark.parametrize("method", list(S1_APPENDIX))
def test_scaling_reproduces_s1s_table_3(method):
    """Scaling in points per doubling of measured thinking reproduces every Table 3 row computable
    from the appendix's per-run numbers (to its rounding)."""
    tokens, correct, table3, exact = S1_APPENDIX[method]
    value = scaling([Point(t, c / 30) for t, c in zip(tokens, correct, strict=True)])
    assert round(value, 1) == exact
    assert round(value) == table3


def test_class_conditional_by_hand():
    # the design note's worked example: (36.7 - 30.0) / log2(9651 / 8033)
    assert scaling([Point(8033, 9 / 30), Point(9651, 11 / 30)]) == pytest.approx(
        100 * (2 / 30) / log2(9651 / 8033)
    )
