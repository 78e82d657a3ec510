"""Test-only: loaded by Python at start-up when this folder is on PYTHONPATH (tests/test_faults.py).

The tiny random model is never right, and the verifier and IBPO stages have nothing to learn from
all-wrong samples. Here a question counts as answered right when its gold answer is an even number,
whatever the model wrote: half right, half wrong, deterministic — the stages' own code (sampling,
caching, fitting, selecting, training, writing) runs unchanged, which is what the fault suite tests.
"""

import dataclasses


def _even(gold) -> bool:
    try:
        return int(str(gold).strip()) % 2 == 0
    except ValueError:
        return False


def _install() -> None:
    import thinkscale.ibpo.rounds
    from thinkscale.eval.policy import Policy

    real = thinkscale.ibpo.rounds.grade
    thinkscale.ibpo.rounds.grade = lambda text, gold, choices=None: dataclasses.replace(
        real(text, gold, choices), correct=_even(gold)
    )
    Policy.is_right = lambda self, answer, item: _even(item.gold)


_install()
