"""Inference: model loading (aliases, local folders, Hub ids), the embedded model's conversion,
the budget-forcing decoder and the interactive chat. See the README's file tree for each module.
"""
