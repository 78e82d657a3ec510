"""Where a result came from: the package version, the git commit of the code that produced it (and
whether that checkout had uncommitted changes), and the date. Written into a run's metrics.json so a
figure copied into the docs can name its commit (`tools/docs_results.py`).

    from thinkscale.common.provenance import provenance
    provenance()  # {"thinkscale": "0.1.0", "commit": "87b9378...", "dirty": False, "date": "2026-12-01"}
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

from thinkscale.common.version import __version__


def git_commit(where: str | Path, tracked: str | None = None) -> tuple[str | None, bool]:
    """The commit checked out at `where` and whether tracked files differ from it; (None, False)
    outside a git checkout (an installed wheel) or without git. With `tracked` (a file in `where`),
    also None unless git tracks that file: a wheel installed into a venv inside some checkout is not
    that checkout's code."""
    try:
        if tracked:
            subprocess.run(["git", "-C", str(where), "ls-files", "--error-unmatch", tracked], capture_output=True,
                           timeout=10, check=True)  # fmt: skip
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, False
    return head, bool(dirty)


def provenance() -> dict:
    """The running code's version, commit and dirty flag, and today's date (UTC)."""
    here = Path(__file__).resolve()
    commit, dirty = git_commit(here.parent, tracked=here.name)
    return {"thinkscale": __version__, "commit": commit, "dirty": dirty,
            "date": datetime.datetime.now(datetime.UTC).date().isoformat()}  # fmt: skip
