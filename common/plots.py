"""Figures for run folders: matplotlib on its file-only backend, saved atomically as PNG.

plt = pyplot(); fig, ax = plt.subplots(); ...; save_figure(fig, out / "loss.png")
"""

from __future__ import annotations

import io
from pathlib import Path

from thinkscale.common.io import atomic_write_bytes


def pyplot():
    """matplotlib.pyplot with the Agg backend: runs write files, they never open windows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 110, rect: tuple | None = None) -> Path:
    """Render `fig` to PNG, write it atomically, and close it; `rect` keeps a margin for a figure legend."""
    buf = io.BytesIO()
    fig.tight_layout(rect=rect)
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())
