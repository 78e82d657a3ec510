"""`--restart`: start a stage over on purpose. Resuming is every stage's default.

    again, = ...parse_config([..., RestartArgs], argv)[-1:]
    with run_lock(out, "curation"):
        if again.restart:
            clear_run(out)          # everything the run wrote, except the lock this process holds

Only what the stage itself wrote under its run folder (and the extra paths the stage names, such as
IBPO's per-round fine-tuning runs) is removed; each removal is printed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from common.lock import LOCK_NAME


@dataclass
class RestartArgs:
    restart: bool = field(
        default=False,
        metadata={"help": "Start over: delete this run's outputs first (an interrupted run resumes by default)."},
    )


def clear_run(folder: Path, extra: Iterable[Path] = ()) -> list[Path]:
    """Delete the contents of `folder` (its lock aside) and the `extra` paths; returns what was removed."""
    folder = Path(folder)
    gone = [p for p in folder.iterdir() if p.name != LOCK_NAME] if folder.is_dir() else []
    gone += [Path(p) for p in extra if Path(p).exists()]
    for p in gone:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        print(f"--restart: removed {p}")
    return gone
