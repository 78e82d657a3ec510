"""s1's Control / Scaling / Performance on hand-computed examples."""

import pytest

from eval.metrics import Point, control, s1_metrics, scaling


def test_three_runs_by_hand():
    pts = [Point(100, 0.2, 0, 128), Point(200, 0.3, 0, 256), Point(400, 0.6, 0, 512)]
    m = s1_metrics(pts)
    # slopes: (0.3-0.2)/100 = 0.001, (0.6-0.2)/300 = 0.001333, (0.6-0.3)/200 = 0.0015 -> mean 0.0012778
    assert m.scaling == pytest.approx((0.001 + 0.4 / 300 + 0.0015) / 3)
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
    assert scaling(pts) == pytest.approx(-0.001)
    assert scaling([Point(50, 0.1)]) is None
    with pytest.raises(ValueError):
        control([])


def test_scaling_divides_by_every_pair_as_s1_does():
    # s1, section 3.2: Scaling = 1 / C(|A|, 2) * sum over a, b in A with b > a of (f(b) - f(a)) / (b - a).
    # Two runs with equal compute form a pair that adds nothing to the sum but counts in C(4, 2) = 6.
    pts = [Point(100, 0.2), Point(100, 0.3), Point(200, 0.4), Point(400, 0.4)]
    slopes = [(0.4 - 0.2) / 100, (0.4 - 0.2) / 300, (0.4 - 0.3) / 100, (0.4 - 0.3) / 300, 0.0]
    assert scaling(pts) == pytest.approx(sum(slopes) / 6)
    assert scaling(pts) != pytest.approx(sum(slopes) / 5)  # not the mean over the 5 pairs that differ
    assert scaling([Point(50, 0.1), Point(50, 0.3)]) == 0.0
