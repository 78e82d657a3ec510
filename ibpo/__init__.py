"""Budget-aware training (IBPO, Yu et al., 2025): teach the model when to think long.

`python -m ibpo.run` runs the rounds; `python -m ibpo.evaluate` measures the models.
"""
