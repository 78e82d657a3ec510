"""Verifiers that score reasoning paths: the toolkit's own value head (offline default) and Hub PRMs.

`thinkscale verifier` trains the value head; `eval.verifier.build.build_verifier` loads one.
"""
