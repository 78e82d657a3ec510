"""Budget-aware training (IBPO, Yu et al., 2025): teach the model when to think long.

`thinkscale ibpo` runs the rounds; `thinkscale ibpo-eval` measures the models.
"""
