"""`--restart`: start a stage over on purpose. Resuming is every stage's default.

    again, = ...parse_config([..., RestartArgs], argv)[-1:]
    with claimed_run(out, "curation", again.restart):   # the lock, then (restart) the old outputs gone
        ...

Only what the stage itself wrote under its run folder (and the extra paths the stage names, such as
IBPO's per-round fine-tuning runs) is removed; each removal is printed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from thinkscale.common.lock import LOCK_NAME, run_lock


@dataclass
class RestartArgs:
    _argument_group_name = "run: resuming and restarting"  # its flags' heading in --help
    restart: bool = field(
        default=False,
        metadata={
            "help": "Start over: delete this run's outputs first (an interrupted run resumes by default)."
        },
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


@contextmanager
def claimed_run(folder: Path, what: str, restart: bool, extra: Iterable[Path] = ()) -> Iterator[None]:
    """`run_lock(folder, what)`; with `restart`, the run's own outputs (and `extra`) removed first,
    under the lock, so a running process's files are never deleted."""
    with run_lock(folder, what):
        if restart:
            clear_run(folder, extra)
        yield
