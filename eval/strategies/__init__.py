"""Test-time compute strategies beside budget forcing: voting, sequential voting, verifiers, search.

`eval.strategies.table.STRATEGIES` is the dispatch table; `thinkscale strategies` the study.
"""
