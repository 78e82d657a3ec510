"""One run at a time per output folder: a lock file naming the process that holds it.

    with run_lock(out):          # raises ValueError "... already running (pid N) ..." if another live
        ...                      # process holds `out`; a lock left by a killed process is taken over

The lock is `<folder>/.lock` holding "pid host start-time" (the start time, read from /proc where
there is one, tells a live owner from a new process that reused a dead owner's pid). It is created
with O_EXCL, so two starters cannot both get it; a stale one (owner gone) is removed only if it
still names the same dead owner when it is removed, then the claim is made again with O_EXCL. Re-entering a folder this process already holds
is allowed (a stage that calls another stage's code on the same folder). Locks on another host
cannot be checked from here: they are refused with the owner named, to be removed by hand.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from thinkscale.common.errors import ConfigError

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"
_held: dict[Path, int] = {}


def _start_time(pid: int) -> str:
    """A process's start time (clock ticks since boot), "" where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = _start_time(pid)
    return not (started and now and now != started)  # the pid was reused by another process


def _claim() -> str:
    return f"{os.getpid()} {socket.gethostname()} {_start_time(os.getpid())}"


def _read(path: Path) -> tuple[int, str, str] | None:
    try:
        parts = path.read_text().split()
    except OSError:
        return None
    if len(parts) < 2 or not parts[0].isdigit():
        return None  # torn or foreign: treated as stale
    return int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""


@contextmanager
def run_lock(folder: str | Path, what: str = "this run", name: str = LOCK_NAME):
    """Hold `folder`'s lock for the block (`name`: another lock file in it, e.g. one per output file)."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path in _held:
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    claim = _claim()
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(path)
            if owner is not None:
                pid, host, started = owner
                if host != socket.gethostname():
                    raise ConfigError(
                        f"{folder} is locked by pid {pid} on host {host}; if that run is gone, delete {path}"
                    ) from None
                if _alive(pid, started):
                    raise ConfigError(
                        f"{folder}: {what} is already running (pid {pid}); wait for it to finish or stop it"
                    ) from None
                log.warning("%s: taking over the lock of pid %d, which is no longer running", folder, pid)
            else:
                log.warning("%s: replacing an unreadable lock file", folder)
            if _read(path) == owner:  # nobody replaced it meanwhile
                path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(claim + "\n")
        break
    else:
        raise ConfigError(f"{folder}: could not take the lock {path} (another process keeps taking it)")
    _held[path] = 1
    try:
        yield path
    finally:
        del _held[path]
        try:
            if path.read_text().strip() == claim:
                path.unlink()
        except OSError:
            pass
