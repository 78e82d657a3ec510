"""Pieces every stage shares: recipe/config parsing, atomic output files, output paths and the
s1 chat format. Nothing here imports a stage package, so data, sft, inference and eval can all use it.
"""
