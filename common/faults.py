"""Fault injection for the crash-safety suite: kill this process at a chosen write.

    THINKSCALE_FAULT=jsonl_write:3 thinkscale eval ...     # SIGKILL inside the 3rd appended row

`fault_point(name)` marks a place where a real crash would hurt most: inside a JSON-lines append
(half the line written and flushed), between an atomic write's temp file and its rename, before a
finished folder is moved into place, before a checkpoint's COMPLETE marker. With `THINKSCALE_FAULT`
set to `name:N` (several: comma-separated), the N-th time this process reaches `name` it kills
itself with SIGKILL — no cleanup, no atexit, as `kill -9` or a power cut would. Unset (always, outside
tests/test_faults.py) it costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "THINKSCALE_FAULT"
_reached: Counter = Counter()


def armed(name: str) -> bool:
    """Whether `name` is a point the environment asks to kill at (used to split writes only then)."""
    spec = os.environ.get(ENV)
    return bool(spec) and any(part.split(":")[0] == name for part in spec.split(","))


def fault_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    _reached[name] += 1
    for part in spec.split(","):
        point, _, n = part.partition(":")
        if point == name and _reached[name] == int(n or 1):
            os.kill(os.getpid(), signal.SIGKILL)
