"""Verifiers that score reasoning paths: the toolkit's own value head (offline default) and Hub PRMs.

`python -m eval.verifier.train` trains the value head; `eval.verifier.verifiers.build_verifier` loads one.
"""
