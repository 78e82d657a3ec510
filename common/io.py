"""Atomic, resumable file output and strict JSON-lines input.

Every stage writes through these helpers so that an interrupted run never leaves a half-written
file under a final name: data goes to a temporary file (or folder) beside the target and is
renamed into place, which is atomic on one filesystem.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from thinkscale.common.errors import ConfigError
from thinkscale.common.faults import armed, fault_point


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (temp file in the same folder, fsync, rename)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should be as readable as any file
        fault_point("atomic_write")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write `obj` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    """Write rows as JSON lines, atomically."""
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


@contextlib.contextmanager
def atomic_dir(path: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes `path` when the block exits without error.

    An existing target is an error unless `replace`, in which case it is swapped out only after the
    new folder is complete. On error the temporary folder is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            if not replace:
                raise FileExistsError(f"{path} already exists; not overwriting it")
            fault_point("atomic_dir")
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            fault_point("atomic_dir")
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_jsonl(
    path: str | Path, allow_torn_tail: bool = False, skipped: list[str] | None = None, errors: str = "strict"
) -> list[dict]:
    """Read a JSON-lines file; a malformed line raises ValueError naming the file and line.

    `allow_torn_tail` skips an unterminated last line: what a killed writer leaves in an output
    file that a resumed run reads (JsonlAppender drops it when it reopens the file). With a
    `skipped` list, malformed lines are skipped and described there instead of raising. `errors`:
    how bytes that are not UTF-8 are decoded (strict: UnicodeDecodeError; replace: U+FFFD).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    rows = []
    with path.open(encoding="utf-8", errors=errors) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                if allow_torn_tail and not line.endswith("\n"):
                    break
                problem = f"{path}:{lineno}: malformed JSON ({e.msg})"
            else:
                if isinstance(obj, dict):
                    rows.append(obj)
                    continue
                problem = f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}"
            if skipped is None:
                raise ConfigError(problem)
            skipped.append(problem)
    return rows


class JsonlAppender:
    """Append-only JSON-lines writer for resumable runs.

    Each row is written as one complete line and flushed, so a run killed mid-way leaves every
    finished row intact; a torn last line (killed inside a write) is dropped on the next open.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        self._f = self.path.open("a", encoding="utf-8")

    def _drop_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            atomic_write_text(self.path, keep.decode("utf-8"))

    def write(self, row: dict) -> None:
        line = json.dumps(row, ensure_ascii=False) + "\n"
        if armed("jsonl_write"):  # a crash test: die with half the line on disk
            self._f.write(line[: len(line) // 2])
            self._f.flush()
            fault_point("jsonl_write")
            line = line[len(line) // 2 :]
        self._f.write(line)
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
